"""Parse, check and compile template text; decide whether a string is one whole expression.

Compilation rewrites the parsed tree before code generation: every ``for`` loop's
iterable and every piece of output or ``~`` operand goes through an internal filter,
so loop iterations and produced text are charged to the render's budget even inside
``{% set %}`` blocks and macros, which Jinja would otherwise run unobserved.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from jinja2 import Template, nodes
from jinja2.exceptions import TemplateSyntaxError
from jinja2.parser import Parser

from engine.errors import TemplateError
from engine.templating.environment import EMIT_FILTER, ITERATE_FILTER, FirelineEnvironment

#: Name the compiled expression assigns its value to.
RESULT = "result"

_FORBIDDEN = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


@dataclass(frozen=True)
class Compiled:
    """A compiled template. When ``native``, running it stores the expression's value in ``RESULT``."""

    template: Template
    native: bool


def parse_template(env: FirelineEnvironment, text: str) -> nodes.Template:
    """Parse template text (raises jinja2's TemplateSyntaxError)."""
    return Parser(env, text).parse()


def parse_expression(env: FirelineEnvironment, text: str) -> nodes.Expr:
    """Parse a bare expression such as ``steps.approve.approved`` (no braces)."""
    hint = " (a bare expression takes no '{{ }}')" if "{{" in text or "{%" in text else ""
    parser = Parser(env, text, state="variable")
    try:
        expr = parser.parse_expression()
    except TemplateSyntaxError as exc:
        raise TemplateError(f"syntax error on line {exc.lineno}: {exc.message}{hint}", text) from None
    if not parser.stream.eos:
        token = parser.stream.current
        raise TemplateError(f"unexpected {token.value or token.type!r} after the expression{hint}", text)
    return expr


def whole_expression(tree: nodes.Template) -> nodes.Expr | None:
    """The expression when the template is exactly one ``{{ expr }}`` with only whitespace around it."""
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    expressions = []
    for child in tree.body[0].nodes:
        if isinstance(child, nodes.TemplateData):
            if child.data.strip():
                return None
        else:
            expressions.append(child)
    return expressions[0] if len(expressions) == 1 else None


def _check_tree(env: FirelineEnvironment, tree: nodes.Node, text: str) -> None:
    """Refuse what Jinja would only notice at run time: unknown filters/tests, includes and imports."""
    for node in tree.find_all(_FORBIDDEN):
        kind = type(node).__name__.lower()
        raise TemplateError(f"{kind} is not available in fireline templates (line {node.lineno})", text)
    for filter_node in tree.find_all(nodes.Filter):
        if filter_node.name not in env.filters:
            raise TemplateError(f"unknown filter {filter_node.name!r} (line {filter_node.lineno})", text)
    for test_node in tree.find_all(nodes.Test):
        if test_node.name not in env.tests:
            raise TemplateError(f"unknown test {test_node.name!r} (line {test_node.lineno})", text)


def _wrap(node: nodes.Node, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


def _instrument(tree: nodes.Template) -> None:
    """Route loop iterables and produced text through the counting filters."""
    for loop in list(tree.find_all(nodes.For)):
        loop.iter = _wrap(loop.iter, ITERATE_FILTER)
    for output in list(tree.find_all(nodes.Output)):
        output.nodes = [_wrap(child, EMIT_FILTER) for child in output.nodes]
    for concat in list(tree.find_all(nodes.Concat)):
        concat.nodes = [_wrap(child, EMIT_FILTER) for child in concat.nodes]


def _expression_template(env: FirelineEnvironment, expr: nodes.Expr) -> Template:
    body: list[nodes.Node] = [nodes.Assign(nodes.Name(RESULT, "store"), expr, lineno=expr.lineno or 1)]
    tree = nodes.Template(body, lineno=1)
    _instrument(tree)
    tree.set_environment(env)
    return env.from_string(tree)


def compile_text(env: FirelineEnvironment, text: str) -> Compiled:
    """Compile template text; a lone ``{{ expr }}`` compiles to a native-value expression."""
    tree = parse_template(env, text)
    _check_tree(env, tree, text)
    expr = whole_expression(tree)
    if expr is not None:
        return Compiled(_expression_template(env, expr), native=True)
    _instrument(tree)
    tree.set_environment(env)
    return Compiled(env.from_string(tree), native=False)


def compile_bare(env: FirelineEnvironment, text: str) -> Compiled:
    """Compile a bare expression (``if:``) to a native-value expression."""
    expr = parse_expression(env, text)
    _check_tree(env, expr, text)
    return Compiled(_expression_template(env, expr), native=True)


class TemplateCache:
    """A bounded, thread-safe LRU of compiled templates keyed by (bare, source text)."""

    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._items: OrderedDict[tuple[bool, str], Compiled] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[bool, str]) -> Compiled | None:
        """The cached entry (marked most recently used), or None."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[bool, str], value: Compiled) -> None:
        """Store an entry, dropping the least recently used ones beyond the size bound."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._max_size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
