"""TemplateEngine: render playbook values against a run's context.

Only the playbook's own strings are ever treated as templates. Values read from the
context (alert data, step outputs) are inserted as data and never rendered again, so
a ``{{`` inside an alert field stays literal text.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from jinja2 import Template
from jinja2.runtime import Context, new_context

from engine.errors import ConfigError, TemplateLimitExceeded
from engine.templating.compiler import RESULT, Compiled, TemplateCache, compile_bare, compile_text
from engine.templating.environment import create_environment
from engine.templating.failures import must_propagate, to_template_error
from engine.templating.limits import Limits, active_budget
from engine.templating.native import to_data

_Path = tuple[str | int, ...]


def is_template(text: str) -> bool:
    """True when ``text`` contains template syntax (``{{`` or ``{%``)."""
    return "{{" in text or "{%" in text


def _where(path: _Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@contextmanager
def _template_errors(
    expression: str, *, bare: bool = False, context: Mapping[str, Any] | None = None, path: _Path = ()
) -> Iterator[None]:
    """Turn any failure in the block into a TemplateError carrying ``expression``."""
    try:
        yield
    except Exception as exc:
        if must_propagate(exc):
            raise
        error = to_template_error(exc, expression, bare=bare, context=context)
        if path:
            error = type(error)(f"at {_where(path)}: {error}", error.expression)
        if error is exc:
            raise
        raise error from exc


class TemplateEngine:
    """Renders and checks expressions in a sandbox, with output and work limits per call.

    Thread-safe: compiled templates are cached in a locked LRU, and the work budget of
    each call lives in a context variable.
    """

    def __init__(
        self, *, max_output_chars: int = 1_000_000, max_operations: int = 100_000, cache_size: int = 2048
    ) -> None:
        if max_output_chars < 1 or max_operations < 1 or cache_size < 1:
            raise ConfigError("template limits and cache size must be positive")
        self._limits = Limits(max_output_chars=max_output_chars, max_operations=max_operations)
        self._env = create_environment(self._limits)
        self._cache = TemplateCache(cache_size)
        self._globals = dict(self._env.globals)

    @property
    def limits(self) -> Limits:
        """The bounds every render stays within."""
        return self._limits

    def render(self, value: Any, context: Mapping[str, Any]) -> Any:
        """Render every template string in ``value`` (recursing into dicts and lists; keys are kept).

        A string that is exactly one ``{{ expr }}`` gives the expression's native value; a
        string mixing text and expressions gives a str; anything else comes back as is.
        One work budget covers the whole call.
        """
        with active_budget(self._limits):
            return self._render_value(value, context, ())

    def evaluate(self, expression: str, context: Mapping[str, Any]) -> Any:
        """The native value of a bare expression such as ``steps.approve.approved``."""
        with active_budget(self._limits), _template_errors(expression, bare=True, context=context):
            return self._run_native(self._compiled(expression, bare=True).template, context)

    def check(self, text: str, *, bare: bool = False) -> None:
        """Raise TemplateError when ``text`` does not compile (syntax, unknown filter, include...)."""
        if not bare and not is_template(text):
            return
        with _template_errors(text, bare=bare):
            self._compiled(text, bare=bare)

    def _compiled(self, text: str, *, bare: bool) -> Compiled:
        key = (bare, text)
        found = self._cache.get(key)
        if found is None:
            found = compile_bare(self._env, text) if bare else compile_text(self._env, text)
            self._cache.put(key, found)
        return found

    def _render_value(self, value: Any, context: Mapping[str, Any], path: _Path) -> Any:
        if isinstance(value, str):
            return self._render_string(value, context, path) if is_template(value) else value
        if isinstance(value, Mapping):
            return {key: self._render_value(item, context, (*path, key)) for key, item in value.items()}
        if isinstance(value, list | tuple):
            rendered = [self._render_value(item, context, (*path, index)) for index, item in enumerate(value)]
            return rendered if isinstance(value, list) else tuple(rendered)
        return value

    def _render_string(self, text: str, context: Mapping[str, Any], path: _Path) -> Any:
        with _template_errors(text, context=context, path=path):
            compiled = self._compiled(text, bare=False)
            if compiled.native:
                return self._run_native(compiled.template, context)
            return self._run_text(compiled.template, context)

    def _new_context(self, template: Template, context: Mapping[str, Any]) -> Context:
        # Same as template.new_context(), but merges a plain dict of globals instead of walking
        # the template's ChainMap on every call (a measurable share of a small render).
        parent = {**self._globals, **context}
        return new_context(self._env, template.name, template.blocks, parent, shared=True)

    def _run_native(self, template: Template, context: Mapping[str, Any]) -> Any:
        run = self._new_context(template, context)
        for _ in template.root_render_func(run):
            pass
        # Listing lazy values happens here, while the budget is still active.
        return to_data(run.vars[RESULT], self._limits)

    def _run_text(self, template: Template, context: Mapping[str, Any]) -> str:
        # The render function is the generator behind template.generate(); reading it directly
        # lets us stop as soon as the output passes the limit, without Jinja's traceback rewriting.
        chunks: Iterator[str] = template.root_render_func(self._new_context(template, context))
        limit = self._limits.max_output_chars
        parts: list[str] = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise TemplateLimitExceeded(f"template output is longer than {limit} characters")
            parts.append(chunk)
        return "".join(parts)
