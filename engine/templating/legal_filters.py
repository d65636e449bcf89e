"""Filters for legal clocks: ``ai_act_clock``, ``ai_act_deadline`` and ``on_or_before``.

Pure and deterministic like the other filters; the rules live in :mod:`engine.legal.ai_act`.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Undefined

from engine.errors import TemplateError
from engine.legal.ai_act import AiActFactError, Harm, clock, parse_harms
from engine.templating.filters import _timestamp


def _harms(value: Any, filter_name: str) -> list[Harm]:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise TemplateError(f"{filter_name}: harms must be a list of names, got {type(value).__name__}")
    try:
        return parse_harms(items)
    except AiActFactError as exc:
        raise TemplateError(f"{filter_name}: {exc}") from None


def ai_act_clock(aware_at: Any, harms: Any = None) -> dict[str, Any]:
    """``aware_at | ai_act_clock(harms)``: the EU AI Act Art. 73 clock as a mapping.

    Keys: regime (``art73(2)``, ``art73(3)`` or ``art73(4)``), days, aware_at, deadline, basis, harms.
    """
    moment = _timestamp(aware_at, "ai_act_clock")
    try:
        return clock(moment, _harms(harms, "ai_act_clock")).model_dump(mode="json")
    except AiActFactError as exc:
        raise TemplateError(f"ai_act_clock: {exc}") from None


def ai_act_deadline(aware_at: Any, harms: Any = None) -> str:
    """``aware_at | ai_act_deadline(harms)``: the latest initial report under Art. 73, ISO-8601 UTC."""
    return str(ai_act_clock(aware_at, harms)["deadline"])


def on_or_before(value: Any, limit: Any) -> bool:
    """``sent_at | on_or_before(deadline)``: True when the first timestamp is not after the second."""
    return _timestamp(value, "on_or_before") <= _timestamp(limit, "on_or_before")


#: The legal filters, by name (merged into the template environment's filters).
LEGAL_FILTERS: dict[str, Any] = {
    "ai_act_clock": ai_act_clock,
    "ai_act_deadline": ai_act_deadline,
    "on_or_before": on_or_before,
}
