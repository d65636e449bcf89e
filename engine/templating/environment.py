"""The sandboxed Jinja environment every playbook expression runs in.

On top of Jinja's immutable sandbox (no ``_private`` attributes, no mutation of lists
and dicts) it makes undefined names errors, reads dict keys before dict methods
(``output.items`` is the key, not the method), counts every lookup, call and loop
iteration against the render's budget, and refuses operations that would build huge
values in one step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import StrictUndefined, Undefined, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.errors import TemplateLimitExceeded
from engine.templating.filters import FILTERS, json_default
from engine.templating.guards import check_method_call, guard_filter
from engine.templating.legal_filters import LEGAL_FILTERS
from engine.templating.limits import (
    CHARS_PER_OPERATION,
    Limits,
    charge,
    check_binop,
    check_size,
    check_str_format,
    counted,
)

#: Internal filter wrapped around every ``for`` loop's iterable (the name cannot be written in a template).
ITERATE_FILTER = "fireline:iterate"
#: Internal filter wrapped around every piece of output and every ``~`` operand.
EMIT_FILTER = "fireline:emit"
#: Jinja globals a template can use without them being in the context.
GLOBAL_NAMES = frozenset({"range", "dict", "namespace", "cycler", "joiner"})
#: Jinja filters left out: ``random`` is not deterministic, ``urlize`` multiplies its arguments.
REMOVED_FILTERS = frozenset({"random", "urlize"})


class FirelineEnvironment(ImmutableSandboxedEnvironment):
    """Immutable sandbox with strict undefined values, work accounting and size checks."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, limits: Limits) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            # No constant folding: folding runs filters at compile time, outside any budget.
            optimized=False,
            cache_size=0,
            auto_reload=False,
        )
        self.limits = limits
        # lipsum draws random numbers; the rest are deterministic.
        self.globals = {name: value for name, value in self.globals.items() if name in GLOBAL_NAMES}
        self.globals["range"] = self._range
        filters = {name: f for name, f in self.filters.items() if name not in REMOVED_FILTERS}
        filters.update(FILTERS)
        filters.update(LEGAL_FILTERS)
        self.filters = {name: guard_filter(name, f, limits) for name, f in filters.items()}
        self.filters[ITERATE_FILTER] = _iterate
        self.filters[EMIT_FILTER] = self._make_emit()
        # Jinja's `tojson` writes what `to_json` can: any mapping (`steps` is one), dates, sets.
        self.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": json_default}

    def _range(self, *args: int) -> range:
        numbers = range(*args)
        if len(numbers) > self.limits.max_operations:
            raise TemplateLimitExceeded(
                f"range of {len(numbers)} numbers is more than the {self.limits.max_operations} allowed"
            )
        charge()
        return numbers

    def _make_emit(self) -> Callable[..., str]:
        limits = self.limits

        # pass_context keeps the compiler from folding literal text at compile time,
        # so text repeated by a loop is charged on every iteration.
        @pass_context
        def emit(context: Context, value: Any) -> str:
            text = value if type(value) is str else str(value)
            if len(text) > limits.max_output_chars:
                raise TemplateLimitExceeded(
                    f"a value of {len(text)} characters is more than the output limit"
                )
            charge(1 + len(text) // CHARS_PER_OPERATION)
            return text

        return emit

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``a.b``: for mappings the key ``b`` wins over a method of the same name."""
        charge()
        if isinstance(obj, Mapping) and not isinstance(obj, Undefined):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """``a['b']`` and ``a[0]``, charged."""
        charge()
        return super().getitem(obj, argument)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Any call from a template: charged, methods of builtin values allow-listed, result measured."""
        charge()
        args = check_method_call(obj, args, kwargs, self.limits)
        return check_size(super().call(context, obj, *args, **kwargs), self.limits, "result of a call")

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """``*``, ``**``, ``+`` and ``%``: refused up front when the result would be too large."""
        charge()
        check_binop(operator, left, right, self.limits)
        return check_size(super().call_binop(context, operator, left, right), self.limits, "result")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``'...'.format(...)``: Jinja's safe formatter, plus bounds on widths and repeats."""
        formatter = super().wrap_str_format(value)
        if formatter is None:
            return None
        fmt: str = value.__self__
        limits = self.limits
        inner = formatter

        def bounded(*args: Any, **kwargs: Any) -> str:
            check_str_format(fmt, (*args, *kwargs.values()), limits)
            return inner(*args, **kwargs)

        return bounded


def _iterate(value: Any) -> Any:
    """Count one operation per loop iteration, whatever is being looped over."""
    if isinstance(value, Undefined):
        # Let the strict undefined raise its own, precise error.
        iter(value)
    return counted(value)


def create_environment(limits: Limits | None = None) -> FirelineEnvironment:
    """A new environment with the given limits (defaults when None)."""
    return FirelineEnvironment(limits or Limits())
