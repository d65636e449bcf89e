"""Checks that an attacker-controlled payload is plain, bounded JSON before anything reads it.

Every normalizer passes its input through :func:`safe_copy` first, so the rest of the code can
assume JSON types only, string keys, finite numbers, valid Unicode and bounded nesting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from engine.errors import AlertInvalid

MAX_DEPTH = 64
"""Deepest nesting of objects and arrays accepted in a payload."""

MAX_ALERTS = 1000
"""Most alerts (documents or references) one payload may carry."""

MAX_NODES = 1_000_000
"""Most values (containers and scalars) one payload may hold; bounds the work per request."""


class PayloadInvalid(AlertInvalid):
    """A payload failed a check; ``path`` names the place (``alerts[3].labels``), ``reason`` says why."""

    def __init__(self, path: str, reason: str) -> None:
        # Paths into deep payloads can be long; keep messages readable.
        self.path = (path if len(path) <= 256 else path[:253] + "...") or "$"
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def join_path(path: str, key: str | int) -> str:
    """Extend a display path with an object key or an array index."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    # Keys from the payload are attacker text: clip them so error messages stay short.
    shown = key if len(key) <= 64 else key[:61] + "..."
    return f"{path}.{shown}" if path else shown


# A path is built lazily as a linked chain (parent chain, key) and only rendered on error, so
# copying a large payload does not format a string per value.
_Chain = tuple[Any, str | int] | None


def _render(base: str, chain: _Chain) -> str:
    keys: list[str | int] = []
    while chain is not None:
        chain, key = chain
        keys.append(key)
    path = base
    for key in reversed(keys):
        path = join_path(path, key)
    return path


def _check_text(value: str, base: str, chain: _Chain) -> None:
    if value.isascii():
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates ("\ud800") are valid JSON escapes but not Unicode; they break every
        # later JSON encoder (Temporal, Elasticsearch), so they are refused here.
        raise PayloadInvalid(_render(base, chain), "string is not valid Unicode (lone surrogate)") from None


def safe_copy(payload: object, path: str = "") -> Any:
    """Return a detached copy of ``payload`` made of JSON types only.

    Tuples become lists and mappings become dicts. The walk is iterative, so deep nesting
    cannot exhaust the interpreter stack.

    Raises:
        PayloadInvalid: on a non-JSON type, a non-string key, a NaN or infinite number,
            invalid Unicode, nesting deeper than :data:`MAX_DEPTH` or more than
            :data:`MAX_NODES` values.
    """
    root: list[Any] = [None]
    # Each entry: (source value, container to write into, key or index there, path chain, depth).
    stack: list[tuple[object, Any, Any, _Chain, int]] = [(payload, root, 0, None, 0)]
    nodes = 0
    while stack:
        value, parent, slot, chain, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise PayloadInvalid(path, f"payload holds more than {MAX_NODES} values")
        if value is None or isinstance(value, bool):
            parent[slot] = value
        elif isinstance(value, int):
            # Beyond 64 bits no search index or JSON peer agrees on the value.
            if not -(2**63) <= value < 2**64:
                raise PayloadInvalid(_render(path, chain), "integer does not fit in 64 bits")
            parent[slot] = value
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise PayloadInvalid(_render(path, chain), "number is not finite (NaN or Infinity)")
            parent[slot] = value
        elif isinstance(value, str):
            _check_text(value, path, chain)
            parent[slot] = value
        elif isinstance(value, Mapping):
            if depth >= MAX_DEPTH:
                raise PayloadInvalid(_render(path, chain), f"nesting deeper than {MAX_DEPTH} levels")
            obj: dict[str, Any] = {}
            parent[slot] = obj
            for key, item in value.items():
                if not isinstance(key, str):
                    raise PayloadInvalid(_render(path, chain), f"object key {key!r:.64} is not a string")
                _check_text(key, path, chain)
                obj[key] = None
                stack.append((item, obj, key, (chain, key), depth + 1))
        elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
            if depth >= MAX_DEPTH:
                raise PayloadInvalid(_render(path, chain), f"nesting deeper than {MAX_DEPTH} levels")
            arr: list[Any] = [None] * len(value)
            parent[slot] = arr
            stack.extend((item, arr, i, (chain, i), depth + 1) for i, item in enumerate(value))
        else:
            raise PayloadInvalid(_render(path, chain), f"{type(value).__name__} is not a JSON value")
    return root[0]


def type_name(value: object) -> str:
    """The JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def expect_object(value: object, path: str) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object, else raise :class:`PayloadInvalid`."""
    if not isinstance(value, dict):
        raise PayloadInvalid(path, f"expected an object, got {type_name(value)}")
    return value


def expect_list(value: object, path: str, *, limit: int = MAX_ALERTS) -> list[Any]:
    """Return ``value`` if it is a JSON array of at most ``limit`` items, else raise."""
    if not isinstance(value, list):
        raise PayloadInvalid(path, f"expected an array, got {type_name(value)}")
    if len(value) > limit:
        raise PayloadInvalid(path, f"{len(value)} items, more than the limit of {limit}")
    return value
