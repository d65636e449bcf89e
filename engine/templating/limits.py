"""Per-render work budget and size checks that keep a template from running away.

A :class:`Budget` is made for each ``render``/``evaluate`` call and activated in a
:class:`~contextvars.ContextVar`, so hooks deep inside Jinja (attribute lookups, calls,
loop iterations) can charge it without being handed it. Context variables are
per-thread and per-asyncio-task, which keeps concurrent renders apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sized
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeGuard

from engine.errors import TemplateLimitExceeded

#: Produced text or collection elements that cost one operation.
CHARS_PER_OPERATION = 256
#: Largest integer a template may build (bits); bigger ones cost time to compute and print.
MAX_INT_BITS = 65_536


@dataclass(frozen=True)
class Limits:
    """The bounds one render must stay within."""

    max_output_chars: int = 1_000_000
    max_operations: int = 100_000


class Budget:
    """Work done so far in one render; raises once a limit is passed."""

    __slots__ = ("limits", "max_operations", "operations")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.max_operations = limits.max_operations
        self.operations = 0

    def charge(self, operations: int = 1) -> None:
        """Count ``operations`` units of work."""
        self.operations += operations
        if self.operations > self.max_operations:
            raise TemplateLimitExceeded(
                f"template did more than {self.limits.max_operations} operations"
                " (calls, lookups, loop iterations, produced text)"
            )


_ACTIVE: ContextVar[Budget | None] = ContextVar("fireline_template_budget", default=None)
_current_budget = _ACTIVE.get


@contextmanager
def active_budget(limits: Limits) -> Iterator[Budget]:
    """Make a fresh budget the current one for the duration of the block."""
    budget = Budget(limits)
    token = _ACTIVE.set(budget)
    try:
        yield budget
    finally:
        _ACTIVE.reset(token)


def charge(operations: int = 1) -> None:
    """Charge the current budget; outside a render (compile time) nothing is counted."""
    budget = _current_budget()
    if budget is not None:
        budget.charge(operations)


def counted(iterable: Iterable[Any]) -> Iterator[Any]:
    """Yield from ``iterable``, charging one operation per item (used for every ``for`` loop)."""
    for item in iterable:
        charge()
        yield item


def check_size(value: Any, limits: Limits, what: str = "value") -> Any:
    """Refuse a produced value that is too large and charge for producing it; return it unchanged."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_INT_BITS:
            raise TemplateLimitExceeded(f"{what} is an integer of more than {MAX_INT_BITS} bits")
        return value
    if isinstance(value, str | bytes | list | tuple | Mapping | set | frozenset):
        size = len(value)
        if size > limits.max_output_chars:
            raise TemplateLimitExceeded(
                f"{what} has {size} characters or items, more than {limits.max_output_chars}"
            )
        charge(1 + size // CHARS_PER_OPERATION)
    return value


def check_length(size: int, limits: Limits, what: str) -> None:
    """Refuse an operation before it builds something of ``size`` characters or items."""
    if size > limits.max_output_chars:
        raise TemplateLimitExceeded(
            f"{what} would produce {size} characters or items, more than {limits.max_output_chars}"
        )


def check_int_args(args: Iterable[Any], limits: Limits, what: str) -> None:
    """Refuse integer size arguments (widths, counts) larger than the output limit."""
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > limits.max_output_chars:
            raise TemplateLimitExceeded(f"{what}: argument {arg} is larger than {limits.max_output_chars}")


_PRINTF_FIELD = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_FORMAT_FIELD = re.compile(r"\{([^{}]*)\}")
_DIGITS = re.compile(r"\d+")


def _longest_str(values: Iterable[Any], limits: Limits) -> int:
    longest = 0
    for value in values:
        items = value.values() if isinstance(value, Mapping) else (value,)
        for item in items:
            longest = max(longest, len(item) if isinstance(item, str) else len(str(item)))
            check_length(longest, limits, "a format argument")
    return longest


def check_printf(fmt: str, args: Any, limits: Limits) -> None:
    """Bound ``fmt % args`` before running it: widths and repeated fields can multiply text."""
    fields = 0
    widest = 0
    for match in _PRINTF_FIELD.finditer(fmt):
        fields += 1
        for group in match.groups():
            if group == "*":
                raise TemplateLimitExceeded("'*' widths are not allowed in format strings")
            if group is not None:
                check_length(int(group), limits, "a format width")
                widest = max(widest, int(group))
    values = args if isinstance(args, tuple) else (args,)
    longest = _longest_str(values, limits) if fields else 0
    check_length(len(fmt) + fields * max(widest, longest), limits, "string formatting")


def check_str_format(fmt: str, args: Iterable[Any], limits: Limits) -> None:
    """Bound ``fmt.format(...)`` the same way as :func:`check_printf`."""
    plain = fmt.replace("{{", "").replace("}}", "")
    matches = list(_FORMAT_FIELD.finditer(plain))
    if plain.count("{") != len(matches):
        # Nested fields ("{:{w}}") take their width from the arguments; refuse them.
        raise TemplateLimitExceeded("nested format fields are not allowed")
    fields = len(matches)
    widest = 0
    for match in matches:
        _, _, spec = match.group(1).partition(":")
        for digits in _DIGITS.findall(spec):
            check_length(int(digits), limits, "a format width")
            widest = max(widest, int(digits))
    longest = _longest_str(args, limits) if fields else 0
    check_length(len(fmt) + fields * max(widest, longest), limits, "string formatting")


def check_binop(operator: str, left: Any, right: Any, limits: Limits) -> None:
    """Refuse ``*``, ``**``, ``+`` and ``%`` whose result would be too large to build."""
    if operator == "**":
        if _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
            check_bits(left.bit_length() * right, "'**'")
    elif operator == "*":
        if _is_int(left) and _is_int(right):
            check_bits(left.bit_length() + right.bit_length(), "'*'")
        elif _is_int(right) and isinstance(left, Sized):
            check_length(len(left) * right, limits, "'*'")
        elif _is_int(left) and isinstance(right, Sized):
            check_length(len(right) * left, limits, "'*'")
    elif operator == "+":
        if isinstance(left, Sized) and isinstance(right, Sized):
            check_length(len(left) + len(right), limits, "'+'")
    elif operator == "%" and isinstance(left, str):
        check_printf(left, right, limits)


def check_bits(bits: int, what: str) -> None:
    """Refuse integer arithmetic whose result would exceed :data:`MAX_INT_BITS`."""
    if bits > MAX_INT_BITS:
        raise TemplateLimitExceeded(f"{what} would build an integer of more than {MAX_INT_BITS} bits")


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
