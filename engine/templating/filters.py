"""Filters fireline adds to Jinja's: time arithmetic, stable JSON, hashing, redaction.

All are pure and deterministic (no clock, no randomness), so they are safe to run
inside a workflow. Bad input raises :class:`~engine.errors.TemplateError`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from jinja2 import Undefined

from engine.errors import TemplateError

_MAX_DEPTH = 256


def _timestamp(value: Any, filter_name: str) -> datetime:
    """Read an ISO-8601 string or a datetime; values without an offset are taken as UTC."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise TemplateError(f"{filter_name}: {value[:64]!r} is not an ISO-8601 timestamp") from None
    else:
        raise TemplateError(f"{filter_name}: expected a timestamp, got {type(value).__name__}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _shift(value: Any, delta: Any, filter_name: str) -> str:
    if isinstance(delta, bool) or not isinstance(delta, int | float):
        raise TemplateError(f"{filter_name}: the amount must be a number, got {type(delta).__name__}")
    try:
        moment = _timestamp(value, filter_name) + timedelta(hours=delta)
    except OverflowError:
        raise TemplateError(f"{filter_name}: the result is out of range") from None
    return moment.isoformat().replace("+00:00", "Z")


def add_hours(value: Any, hours: Any) -> str:
    """``ts | add_hours(n)``: the timestamp ``n`` hours later, as ISO-8601 UTC ending in ``Z``."""
    return _shift(value, hours, "add_hours")


def add_days(value: Any, days: Any) -> str:
    """``ts | add_days(n)``: the timestamp ``n`` days later, as ISO-8601 UTC ending in ``Z``."""
    if isinstance(days, bool) or not isinstance(days, int | float):
        raise TemplateError(f"add_days: the amount must be a number, got {type(days).__name__}")
    return _shift(value, days * 24, "add_days")


def json_default(value: Any) -> Any:
    """What ``json.dumps`` cannot write itself, as JSON data (or a TypeError saying so)."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    # A TypeError, as json.dumps raises: to_json names itself in front, tojson as Jinja reports it.
    raise TypeError(f"a {type(value).__name__} cannot be written as JSON")


def to_json(value: Any) -> str:
    """Compact JSON with sorted keys, so equal data always gives the same text."""
    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
            default=json_default,
        )  # fmt: skip
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"to_json: {exc}") from None


def sha256(value: Any) -> str:
    """Hex SHA-256 of a string (UTF-8), of bytes, or of ``to_json`` of any other value."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode("utf-8")
    else:
        data = to_json(value).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _mask(text: str, keep: int) -> str:
    # A value no longer than `keep` is masked whole: showing it all would redact nothing.
    shown = text[-keep:] if 0 < keep < len(text) else ""
    return "*" * (len(text) - len(shown)) + shown


def _redact(value: Any, keep: int, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise TemplateError("redact: value is nested too deeply")
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _mask(value, keep)
    if isinstance(value, int | float):
        return _mask(str(value), keep)
    if isinstance(value, Mapping):
        return {key: _redact(item, keep, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact(item, keep, depth + 1) for item in value]
    return _mask(str(value), keep)


def redact(value: Any, keep: int = 4) -> Any:
    """Mask all but the last ``keep`` characters of strings, recursively through mappings and lists.

    Numbers are masked as their text; ``None`` and booleans are left alone; a string no
    longer than ``keep`` is masked entirely.
    """
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise TemplateError("redact: keep must be a whole number of characters, 0 or more")
    return _redact(value, keep, 0)


#: The filters fireline adds, by name.
FILTERS: dict[str, Any] = {
    "add_hours": add_hours,
    "add_days": add_days,
    "to_json": to_json,
    "sha256": sha256,
    "redact": redact,
}
