"""Static analysis: which context names (and constant paths under them) a template reads.

``references("{{ steps.evidence.output.total + x }}")`` gives
``[Reference("steps", ("evidence", "output", "total")), Reference("x", ())]``. The spec
validator uses it to report references to steps that do not exist or run later.
Names the template binds itself (loop targets, ``{% set %}``, macro arguments,
``loop``) and Jinja's globals (``range``, ``namespace``...) are not free.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError

from engine.errors import TemplateError
from engine.templating.compiler import parse_expression, parse_template
from engine.templating.environment import GLOBAL_NAMES, FirelineEnvironment, create_environment

#: Names Jinja defines in every template.
_ALWAYS_BOUND = GLOBAL_NAMES | {"self"}
#: Names a macro or call block body may use without them being passed in.
_MACRO_NAMES = frozenset({"varargs", "kwargs", "caller"})
#: Filters and tests meant for values that may be missing.
_GUARDING_FILTERS = frozenset({"default", "d"})
_GUARDING_TESTS = frozenset({"defined", "undefined"})

_parser_env: FirelineEnvironment = create_environment()


@dataclass(frozen=True)
class Reference:
    """One read of a context name, with the constant attribute/item path that follows it.

    ``guarded`` is True when the read is the operand of ``is defined``, ``is undefined`` or
    ``| default``: its last element is allowed to be missing.
    """

    root: str
    path: tuple[str | int, ...]
    guarded: bool = False

    def dotted(self) -> str:
        """``steps.evidence.output['a-b'][0]``-style text for messages."""
        text = self.root
        for part in self.path:
            text += f".{part}" if isinstance(part, str) and part.isidentifier() else f"[{part!r}]"
        return text


def _bind(target: nodes.Node, scope: set[str]) -> None:
    if isinstance(target, nodes.Name):
        scope.add(target.name)
    else:
        for child in target.iter_child_nodes():
            _bind(child, scope)


def _const_key(node: nodes.Node) -> str | int | None:
    if (
        isinstance(node, nodes.Const)
        and isinstance(node.value, str | int)
        and not isinstance(node.value, bool)
    ):
        return node.value
    return None


class _Finder:
    def __init__(self) -> None:
        self.found: dict[Reference, None] = {}

    def body(self, statements: list[nodes.Node], scope: set[str]) -> None:
        for statement in statements:
            self.visit(statement, scope)

    def visit(self, node: nodes.Node | None, scope: set[str], guarded: bool = False) -> None:
        if node is None:
            return
        if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
            self.chain(node, scope, guarded)
        elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            # A method call: the method name is not part of the data path.
            self.chain(node.node.node, scope, False)
            self.arguments(node, scope)
        elif isinstance(node, nodes.Filter | nodes.Test):
            guarding = node.name in (_GUARDING_FILTERS if isinstance(node, nodes.Filter) else _GUARDING_TESTS)
            self.visit(node.node, scope, guarding)
            self.arguments(node, scope)
        elif isinstance(node, nodes.Stmt):
            self.statement(node, scope)
        else:
            for child in node.iter_child_nodes():
                self.visit(child, scope)

    def arguments(self, node: nodes.Call | nodes.Filter | nodes.Test, scope: set[str]) -> None:
        children: list[nodes.Node | None] = [*node.args, *node.kwargs, node.dyn_args, node.dyn_kwargs]
        for child in children:
            self.visit(child, scope)

    def chain(self, node: nodes.Expr, scope: set[str], guarded: bool) -> None:
        """``a.b['c'][i].d``: record ``a`` with its constant path, then visit the dynamic parts."""
        links: list[nodes.Getattr | nodes.Getitem] = []
        while isinstance(node, nodes.Getattr | nodes.Getitem):
            links.append(node)
            node = node.node
        path: list[str | int] = []
        dynamic: list[nodes.Expr] = []
        for link in reversed(links):
            key = link.attr if isinstance(link, nodes.Getattr) else _const_key(link.arg)
            if key is None or dynamic:
                # The path ends at the first part only known at run time.
                if isinstance(link, nodes.Getitem):
                    dynamic.append(link.arg)
            else:
                path.append(key)
        if isinstance(node, nodes.Name):
            if node.ctx == "load" and node.name not in scope and node.name not in _ALWAYS_BOUND:
                self.found.setdefault(Reference(node.name, tuple(path), guarded and not dynamic))
        else:
            self.visit(node, scope)
        for arg in dynamic:
            self.visit(arg, scope)

    def statement(self, node: nodes.Stmt, scope: set[str]) -> None:
        if isinstance(node, nodes.For):
            self.visit(node.iter, scope)
            inner = set(scope) | {"loop"}
            _bind(node.target, inner)
            self.visit(node.test, inner)
            self.body(node.body, inner)
            self.body(node.else_, set(scope))
        elif isinstance(node, nodes.Macro | nodes.CallBlock):
            if isinstance(node, nodes.Macro):
                scope.add(node.name)
            else:
                self.visit(node.call, scope)
            for default in node.defaults:
                self.visit(default, scope)
            inner = set(scope) | _MACRO_NAMES
            for arg in node.args:
                _bind(arg, inner)
            self.body(node.body, inner)
        elif isinstance(node, nodes.With):
            for value in node.values:
                self.visit(value, scope)
            inner = set(scope)
            for target in node.targets:
                _bind(target, inner)
            self.body(node.body, inner)
        elif isinstance(node, nodes.Assign):
            self.visit(node.node, scope)
            self.target(node.target, scope)
        elif isinstance(node, nodes.AssignBlock):
            self.body(node.body, set(scope))
            self.visit(node.filter, scope)
            self.target(node.target, scope)
        elif isinstance(node, nodes.Block | nodes.FilterBlock):
            self.body(node.body, set(scope))
            if isinstance(node, nodes.FilterBlock):
                self.visit(node.filter, scope)
        else:
            # If, Output, ExprStmt, scopes: no new names; `{% set %}` inside an `if` stays visible after it.
            for child in node.iter_child_nodes():
                self.visit(child, scope)

    def target(self, target: nodes.Node, scope: set[str]) -> None:
        if isinstance(target, nodes.NSRef):
            # `{% set ns.x = ... %}` reads `ns`.
            if target.name not in scope and target.name not in _ALWAYS_BOUND:
                self.found.setdefault(Reference(target.name, ()))
        else:
            _bind(target, scope)


def references(text: str, *, bare: bool = False) -> list[Reference]:
    """Every free name the template reads, with its constant path, in order of first use, without repeats.

    A path stops at the first dynamic part (``steps[name].output`` gives ``steps`` with an
    empty path). Raises TemplateError on a syntax error.
    """
    return list(_references(text, bare))


@functools.lru_cache(maxsize=4096)
def _references(text: str, bare: bool) -> tuple[Reference, ...]:
    # Catalogs repeat the same expressions across playbooks; parsing is the cost, so remember it.
    tree: nodes.Node
    try:
        tree = parse_expression(_parser_env, text) if bare else parse_template(_parser_env, text)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"syntax error on line {exc.lineno}: {exc.message}", text) from None
    finder = _Finder()
    if isinstance(tree, nodes.Template):
        finder.body(tree.body, set())
    else:
        finder.visit(tree, set())
    return tuple(finder.found)
