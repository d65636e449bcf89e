"""Turn an expression's value into plain data (dicts, lists, str, numbers, bool, None).

The value of ``"{{ expr }}"`` leaves the sandbox, so it must be data: lazy results
(``map``, ``select``, ``range``) are listed while the budget is still active, tuples
and sets become lists, mappings become dicts, and anything undefined or executable
(a macro, a bound method) is refused. Its total size is bounded by the output limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jinja2 import Undefined

from engine.errors import TemplateError, TemplateLimitExceeded
from engine.templating.limits import MAX_INT_BITS, Limits

_MAX_DEPTH = 256
_SCALARS = (bool, float, type(None))


class _Walk:
    def __init__(self, limits: Limits) -> None:
        self.limit = limits.max_output_chars
        self.size = 0

    def grow(self, amount: int) -> None:
        self.size += amount
        if self.size > self.limit:
            raise TemplateLimitExceeded(
                f"the expression's value is larger than {self.limit} characters/items"
            )

    def value(self, value: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise TemplateLimitExceeded(
                f"the expression's value is nested more than {_MAX_DEPTH} levels deep"
            )
        self.grow(1)
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        if isinstance(value, _SCALARS):
            return value
        if isinstance(value, int):
            if value.bit_length() > MAX_INT_BITS:
                raise TemplateLimitExceeded(
                    f"the expression's value is an integer of more than {MAX_INT_BITS} bits"
                )
            return int(value)
        if isinstance(value, str):
            self.grow(len(value))
            # Markup and other str subclasses become plain text.
            return value if type(value) is str else str(value)
        if isinstance(value, Mapping):
            return {key: self.value(item, depth + 1) for key, item in value.items()}
        # Template machinery (macros, namespaces, loop objects, bound methods) is not data.
        if callable(value) or type(value).__module__.startswith("jinja2"):
            raise TemplateError(f"the expression's value is a {type(value).__name__}, not data")
        if isinstance(value, bytes):
            self.grow(len(value))
            return value
        if isinstance(value, Iterable):
            return [self.value(item, depth + 1) for item in value]
        # Dates, decimals and other plain values from the context pass through as they are.
        return value


def to_data(value: Any, limits: Limits) -> Any:
    """A plain-data copy of ``value``; raises TemplateError/TemplateLimitExceeded when it is not data."""
    return _Walk(limits).value(value, 0)
