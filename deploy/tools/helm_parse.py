"""Lexing and parsing of Go templates for helm_template.py: text, actions and block nodes.

``{{-``/``-}}`` trim whitespace, ``{{/* */}}`` comments vanish, ``if``/``else if``/``with``/
``range``/``define``/``template`` make nodes; pipelines stay token lists for the renderer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from helm_funcs import TemplateError

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:\\.|[^"\\])*")|(?P<raw>`[^`]*`)|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>:=|=|\||\(|\)|,)'
    r"|(?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)|(?P<field>(?:\.[A-Za-z0-9_]+)+|\.)"
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*))"
)


@dataclass
class Node:
    """A parsed piece of a template."""

    kind: str  # text, action, if, range, with, define, template
    text: str = ""
    pipe: list[str] = field(default_factory=list)
    body: list[Node] = field(default_factory=list)
    orelse: list[Node] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)


def _tokens(text: str, where: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"{where}: cannot read {text[pos:]!r}")
        out.append(m.group().strip())
        pos = m.end()
    return out


def _lex(source: str) -> Iterator[tuple[str, str]]:
    """Text and actions, with ``{{-``/``-}}`` whitespace trimming applied."""
    pos, trim_next = 0, False
    for m in _ACTION.finditer(source):
        text = source[pos : m.start()]
        if trim_next:
            text = text.lstrip()
        if m.group(1):
            text = text.rstrip()
        yield "text", text
        body = m.group(2).strip()
        if not (body.startswith("/*") and body.endswith("*/")):
            yield "action", body
        trim_next, pos = bool(m.group(3)), m.end()
    tail = source[pos:]
    yield "text", tail.lstrip() if trim_next else tail


def parse(source: str, name: str, defines: dict[str, list[Node]]) -> list[Node]:
    """Parse ``source`` into nodes; ``define`` blocks go into ``defines``."""
    root: list[Node] = []
    stack: list[tuple[Node | None, list[Node]]] = [(None, root)]
    for kind, text in _lex(source):
        current = stack[-1][1]
        if kind == "text":
            if text:
                current.append(Node("text", text=text))
            continue
        words = _tokens(text, name)
        head = words[0] if words else ""
        if head in ("if", "with", "range"):
            node = Node(head)
            rest = words[1:]
            if head == "range" and ":=" in rest:
                split = rest.index(":=")
                node.variables = [w for w in rest[:split] if w != ","]
                rest = rest[split + 1 :]
            node.pipe = rest
            current.append(node)
            stack.append((node, node.body))
        elif head == "define":
            node = Node("define", text=json.loads(words[1]))
            stack.append((node, node.body))
        elif head == "else":
            owner = stack[-1][0]
            if owner is None:
                raise TemplateError(f"{name}: else outside a block")
            if words[1:2] == ["if"]:  # else if: a nested if in the else branch, closed by the same end
                nested = Node("if", pipe=words[2:], text="elif")
                owner.orelse.append(nested)
                stack[-1] = (owner, owner.orelse)
                stack.append((nested, nested.body))
            else:
                stack[-1] = (owner, owner.orelse)
        elif head == "end":
            while True:
                owner, _ = stack.pop()
                if owner is None:
                    raise TemplateError(f"{name}: unexpected end")
                if owner.text != "elif":
                    break
            if owner.kind == "define":
                defines[owner.text] = owner.body
        elif head == "template":
            current.append(Node("template", text=json.loads(words[1]), pipe=words[2:]))
        else:
            current.append(Node("action", pipe=words))
    if len(stack) != 1:
        raise TemplateError(f"{name}: missing end")
    return root
