"""Checks around filters and method calls that could multiply text or work.

Each filter is wrapped so that it charges the budget, refuses arguments that would
build something huge in a single step (``center(10**9)``, ``join`` with a long
separator, ``indent`` by a megabyte) and has its result measured. Methods on builtin
values (``'x'.upper()``) are limited to an allow-list of read-only, bounded ones.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Collection, Iterable, Sized
from typing import Any

from jinja2.utils import _PassArg

from engine.errors import TemplateError, TemplateLimitExceeded
from engine.templating.limits import (
    Limits,
    charge,
    check_int_args,
    check_length,
    check_printf,
    check_size,
)

#: Methods of builtin values a template may call. Anything else (``translate``,
#: ``expandtabs``, ``encode``, ``fromkeys``...) is refused.
ALLOWED_METHODS = frozenset(
    {
        # str
        "capitalize", "casefold", "center", "count", "endswith", "find", "index", "isalnum",
        "isalpha", "isascii", "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle",
        "isupper", "join", "ljust", "lower", "lstrip", "partition", "removeprefix", "removesuffix",
        "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines",
        "startswith", "strip", "swapcase", "title", "upper", "zfill",
        # dict
        "get", "items", "keys", "values",
        # numbers
        "is_integer", "bit_length",
    }
)  # fmt: skip

_BUILTIN_VALUES = (str, bytes, dict, list, tuple, set, frozenset, int, float)
#: Filters and methods whose integer arguments are sizes (widths, counts): capped at the output limit.
_SIZED_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "batch", "slice"})
_SIZED_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any) -> Any:
    """The argument at ``index`` (after the filtered value) or ``name``, as the filter would see it."""
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _materialize(value: Any) -> Any:
    """Turn a lazy iterable into a list so its length can be checked before use."""
    if isinstance(value, Sized) or not isinstance(value, Iterable) or isinstance(value, str):
        return value
    return list(value)


def _joined_length(items: Iterable[Any], sep: str, limits: Limits) -> None:
    total = 0
    for count, item in enumerate(items):
        total += len(item) if isinstance(item, str) else len(str(item))
        if count:
            total += len(sep)
        check_length(total, limits, "join")


def _replaced_length(text: Any, old: Any, new: Any, count: Any, limits: Limits) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
        hits = text.count(old) if old else len(text) + 1
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        check_length(len(text) + hits * (len(new) - len(old)), limits, "replace")


def _lines(text: Any) -> int:
    return str(text).count("\n") + 1


def precheck_filter(
    name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any], limits: Limits
) -> Any:
    """Refuse a filter call that would build too much in one step; return the (maybe listed) value."""
    if name in _SIZED_FILTERS:
        check_int_args((*args, *kwargs.values()), limits, f"filter {name!r}")
    if name == "join":
        value = _materialize(value)
        sep = _arg(args, kwargs, 0, "d", "")
        if isinstance(value, Collection) and not isinstance(value, str) and isinstance(sep, str):
            if _arg(args, kwargs, 1, "attribute", None) is None:
                _joined_length(value, sep, limits)
            else:
                # Joining attributes of the items: only the separators can be bounded up front.
                check_length(len(sep) * len(value), limits, "join")
    elif name == "replace":
        _replaced_length(
            value, _arg(args, kwargs, 0, "old", ""), _arg(args, kwargs, 1, "new", ""),
            _arg(args, kwargs, 2, "count", None), limits,
        )  # fmt: skip
    elif name == "indent":
        width = _arg(args, kwargs, 0, "width", 4)
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        check_length(len(str(value)) + pad * _lines(value), limits, "indent")
    elif name == "wordwrap":
        wrap = _arg(args, kwargs, 2, "wrapstring", None)
        width = _arg(args, kwargs, 0, "width", 79)
        if isinstance(wrap, str) and isinstance(width, int):
            check_length(len(str(value)) * (1 + len(wrap) // max(width, 1)) + len(wrap), limits, "wordwrap")
    elif name == "format" and isinstance(value, str):
        check_printf(value, kwargs or args, limits)
    elif name == "sum":
        start = _arg(args, kwargs, 1, "start", 0)
        if not isinstance(start, int | float):
            raise TemplateError("filter 'sum' only adds numbers (start must be a number)")
    elif name == "slice":
        slices = _arg(args, kwargs, 0, "slices", 1)
        if isinstance(slices, int):
            charge(max(slices, 0))
    elif name == "tojson":
        indent = _arg(args, kwargs, 0, "indent", None)
        if isinstance(indent, int) and indent > 16:
            raise TemplateLimitExceeded("filter 'tojson': indent above 16 is not allowed")
    return value


def guard_filter(name: str, func: Callable[..., Any], limits: Limits) -> Callable[..., Any]:
    """Wrap a filter so every use is charged, pre-checked and has its result measured."""
    # Filters that receive the context/environment get it as the first positional argument.
    skip = 1 if _PassArg.from_obj(func) is not None else 0

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        charge()
        if len(args) > skip:
            value = precheck_filter(name, args[skip], args[skip + 1 :], kwargs, limits)
            args = (*args[:skip], value, *args[skip + 1 :])
        return check_size(func(*args, **kwargs), limits, f"result of filter {name!r}")

    return guarded


def check_method_call(
    obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any], limits: Limits
) -> tuple[Any, ...]:
    """Refuse calls to methods of builtin values that are not allowed or would build too much.

    Returns the positional arguments to call with (a lazy iterable given to ``join`` is listed).
    """
    if not isinstance(obj, types.BuiltinMethodType | types.MethodWrapperType):
        return args
    owner = getattr(obj, "__self__", None)
    if not isinstance(owner, _BUILTIN_VALUES):
        return args
    name = obj.__name__
    if name not in ALLOWED_METHODS:
        raise TemplateError(f"method {type(owner).__name__}.{name}() is not allowed in templates")
    if name in _SIZED_METHODS:
        check_int_args((*args, *kwargs.values()), limits, f"{name}()")
    if name == "join" and isinstance(owner, str) and args:
        args = (_materialize(args[0]), *args[1:])
        _joined_length(args[0], owner, limits)
    elif name == "replace" and len(args) >= 2:
        _replaced_length(owner, args[0], args[1], args[2] if len(args) > 2 else kwargs.get("count"), limits)
    return args
