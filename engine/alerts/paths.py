"""Dotted-path lookup that understands both nested objects and flat dotted keys.

Kibana alert documents mix the two forms: ``{"kibana.alert.rule.name": "x"}`` sits next to
``{"host": {"name": "h"}}``, and some senders even write ``{"kibana": {"alert.rule.name": "x"}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_PATH_PARTS = 32
"""Paths with more segments than this never resolve (they bound the search below)."""


def lookup(data: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    """Resolve ``dotted`` in ``data``; return ``(found, value)``.

    At each level the longest flat key is tried first (``"kibana.alert.rule.name"`` before
    ``"kibana"``); when a longer key exists but the rest of the path does not resolve under it,
    shorter keys are tried too. Only objects are descended into, never arrays.

    Args:
        data: the document (an alert view, an ECS document, labels...).
        dotted: a path such as ``"fields.ml.model.name"``; an empty path is never found.
    """
    if not dotted:
        return False, None
    parts = dotted.split(".")
    if len(parts) > MAX_PATH_PARTS or "" in parts:
        return False, None
    return _resolve(data, parts, 0)


def _resolve(data: Mapping[str, Any], parts: list[str], start: int) -> tuple[bool, Any]:
    for end in range(len(parts), start, -1):
        key = ".".join(parts[start:end]) if end - start > 1 else parts[start]
        if key not in data:
            continue
        value = data[key]
        if end == len(parts):
            return True, value
        if isinstance(value, Mapping):
            found, inner = _resolve(value, parts, end)
            if found:
                return True, inner
    return False, None


def get(data: Mapping[str, Any], dotted: str) -> Any:
    """The value at ``dotted``, or ``None`` when it is absent."""
    return lookup(data, dotted)[1]
