"""Turning run data into text for pages: alert fields, JSON, ages, times and Markdown.

Everything here returns plain strings; the templates escape them (autoescape is on). Alert data is
attacker-controlled, so sizes are capped and nothing is ever evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from markdown_it import MarkdownIt

MAX_FIELDS = 500
MAX_VALUE_CHARS = 2000
MAX_DEPTH = 8
MAX_JSON_CHARS = 64_000
#: Fields shown first, in this order; the rest follow in document order.
ALERT_HEAD = ("id", "source", "rule", "title", "severity", "fingerprint", "occurred_at", "received_at")

# CommonMark with raw HTML off: tags in a review are shown as text; unsafe link schemes
# (javascript:, vbscript:, file:, data: except images) are refused by markdown-it's validateLink.
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def clip(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


def scalar(value: Any) -> str:
    """A leaf value as text (strings as they are, everything else as JSON)."""
    if isinstance(value, str):
        return clip(value)
    return clip(json.dumps(value, default=str, ensure_ascii=False))


def flatten(value: Any, limit: int = MAX_FIELDS) -> list[tuple[str, str]]:
    """``(dotted path, text)`` pairs of a nested alert, head fields first, at most ``limit`` of them."""
    out: list[tuple[str, str]] = []

    def walk(node: Any, path: str, depth: int) -> None:
        if len(out) >= limit:
            return
        if isinstance(node, Mapping) and node and depth < MAX_DEPTH:
            for key, item in node.items():
                walk(item, f"{path}.{key}" if path else str(key), depth + 1)
        elif isinstance(node, list) and node and depth < MAX_DEPTH:
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]", depth + 1)
        else:
            out.append((clip(path, 300), scalar(node)))

    if isinstance(value, Mapping):
        ordered = {k: value[k] for k in ALERT_HEAD if k in value}
        ordered.update({k: v for k, v in value.items() if k not in ordered})
        walk(ordered, "", 0)
    else:
        walk(value, "", 0)
    if len(out) >= limit:
        out.append(("…", f"only the first {limit} fields are shown"))
    return out


def pretty_json(value: Any, limit: int = MAX_JSON_CHARS) -> str:
    """Indented JSON of ``value``, capped."""
    try:
        text = json.dumps(value, indent=2, default=str, ensure_ascii=False, sort_keys=False)
    except (TypeError, ValueError):
        text = repr(value)
    return clip(text, limit)


def age(seconds: float | None) -> str:
    """A short age: ``45s``, ``12m``, ``3h 5m``, ``2d 4h``."""
    if seconds is None:
        return ""
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def when(moment: datetime | None) -> str:
    """A UTC timestamp to the second."""
    if moment is None:
        return ""
    # isoformat is several times faster than strftime, and the list formats thousands of these.
    return moment.astimezone(UTC).isoformat(sep=" ", timespec="seconds").replace("+00:00", "Z")


def duration(start: datetime | None, end: datetime | None) -> str:
    """How long from ``start`` to ``end`` (empty while unfinished)."""
    if start is None or end is None:
        return ""
    ms = (end - start).total_seconds() * 1000
    return f"{ms:.0f} ms" if ms < 10_000 else age(ms / 1000)


def markdown(text: str) -> str:
    """Markdown rendered to HTML with every tag in the source escaped."""
    html: str = _MARKDOWN.render(text)
    return html
