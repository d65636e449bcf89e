"""Reading scalar values out of source documents: text, timestamps, severities."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from engine.alerts.model import Severity
from engine.alerts.paths import lookup
from engine.alerts.payload import PayloadInvalid, type_name

MAX_ID_CHARS = 512
MAX_TEXT_CHARS = 512

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s{2,}")

# Words senders use for severity, mapped onto fireline's five levels.
_SEVERITY_WORDS: dict[str, Severity] = {
    **dict.fromkeys(
        [
            "critical",
            "crit",
            "fatal",
            "emergency",
            "emerg",
            "alert",
            "page",
            "disaster",
            "p1",
            "sev1",
            "sev-1",
        ],
        Severity.CRITICAL,
    ),
    **dict.fromkeys(["high", "error", "err", "major", "severe", "p2", "sev2", "sev-2"], Severity.HIGH),
    **dict.fromkeys(
        ["medium", "moderate", "warning", "warn", "average", "p3", "sev3", "sev-3"], Severity.MEDIUM
    ),
    **dict.fromkeys(["low", "minor", "notice", "p4", "sev4", "sev-4"], Severity.LOW),
    **dict.fromkeys(
        ["info", "informational", "information", "none", "debug", "trace", "ok", "p5", "sev5", "sev-5"],
        Severity.INFO,
    ),
}


def text(value: object) -> str | None:
    """``value`` as a non-empty stripped string, or ``None`` (numbers count, booleans do not)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        stripped = value.strip()
        return stripped or None
    return None


def one_line(value: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Collapse control characters and runs of whitespace, then clip to ``limit`` characters."""
    flat = _SPACES.sub(" ", _CONTROL.sub(" ", value)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def clip(value: str, limit: int = MAX_ID_CHARS) -> str:
    """Clip ``value`` to ``limit`` characters without otherwise changing it."""
    return value if len(value) <= limit else value[:limit]


def first_text(doc: Mapping[str, Any], paths: Iterable[str]) -> str | None:
    """The first path in ``paths`` that holds text (or the first text item of an array)."""
    for path in paths:
        found, value = lookup(doc, path)
        if not found:
            continue
        if isinstance(value, list):
            value = next((item for item in value if text(item) is not None), None)
        result = text(value)
        if result is not None:
            return result
    return None


def severity_from_word(value: object) -> Severity | None:
    """Map a word such as ``"warning"`` or ``"P1"`` to a severity; ``None`` when unknown."""
    if not isinstance(value, str):
        return None
    return _SEVERITY_WORDS.get(value.strip().lower())


def severity_from_score(value: object) -> Severity | None:
    """Map a 0-100 risk score (number or numeric string) to a severity.

    Bands follow Elastic's risk score: 0-21 low, 22-47 medium, 48-73 high, 74-100 critical.
    """
    score: float
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        score = float(value)
    elif isinstance(value, str):
        try:
            score = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    # Comparisons with NaN are all false, so a "nan" string falls through to None.
    if not 0 <= score <= 100:
        return None
    if score < 22:
        return Severity.LOW
    if score < 48:
        return Severity.MEDIUM
    if score < 74:
        return Severity.HIGH
    return Severity.CRITICAL


def severity_of(value: object) -> Severity | None:
    """A word first, then a risk score."""
    return severity_from_word(value) or severity_from_score(value)


def _to_utc(moment: datetime) -> datetime:
    # Naive times from senders are taken as UTC: there is no better guess, and it is the norm.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_time(value: object) -> datetime | None:
    """Parse an ISO 8601 string or a Unix epoch (seconds, or milliseconds when > 1e11).

    Returns an aware UTC datetime, or ``None`` when ``value`` is not a usable timestamp.
    """
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            seconds = value / 1000 if abs(value) > 1e11 else value
            return datetime.fromtimestamp(seconds, UTC)
        if isinstance(value, str):
            raw = value.strip()
            if not raw or len(raw) > 64:
                return None
            if re.fullmatch(r"-?\d+(\.\d+)?", raw):
                return parse_time(float(raw))
            return _to_utc(datetime.fromisoformat(raw))
    except (ValueError, OverflowError, OSError):
        return None
    return None


def require_time(doc: Mapping[str, Any], paths: Iterable[str], where: str) -> datetime | None:
    """The first timestamp found at ``paths``; a present but unreadable one raises.

    Raises:
        PayloadInvalid: when a path holds a value that is not a timestamp.
    """
    for path in paths:
        found, value = lookup(doc, path)
        if not found or value is None:
            continue
        moment = parse_time(value)
        if moment is None:
            shown = f"{value!r:.80}" if isinstance(value, str) else type_name(value)
            raise PayloadInvalid(f"{where}.{path}" if where else path, f"not a timestamp: {shown}")
        return moment
    return None


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (naive values are taken as UTC)."""
    return _to_utc(moment)
