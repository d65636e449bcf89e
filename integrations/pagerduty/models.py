"""Typed parameters and results of the PagerDuty actions (Events API v2)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255


class Severity(StrEnum):
    """PagerDuty's severities."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


#: fireline's alert severities in PagerDuty's terms, so `{{ alert.severity }}` can be passed as is.
_FROM_ALERT = {"low": "info", "medium": "warning", "high": "error"}


def _severity(value: Any) -> Any:
    return _FROM_ALERT.get(value, value) if isinstance(value, str) else value


def _blank_is_none(value: Any) -> Any:
    # Templated arguments render a missing value as "": treat it as not given.
    return None if isinstance(value, str) and not value.strip() else value


BlankIsNone = BeforeValidator(_blank_is_none)


def _summary(value: Any) -> Any:
    # Alert titles can be long; PagerDuty refuses summaries past 1024 characters, so cut them.
    if isinstance(value, str) and len(value) > MAX_SUMMARY:
        return value[: MAX_SUMMARY - 1] + "…"
    return value


class EventAction(StrEnum):
    """What an event does to the alert its dedup key names."""

    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class Link(BaseModel):
    """A link shown on the alert."""

    model_config = ConfigDict(extra="forbid")

    href: str = Field(pattern=r"^https?://", max_length=2048)
    text: str | None = Field(None, max_length=1024)


DedupKey = Annotated[str, Field(min_length=1, max_length=MAX_DEDUP_KEY)]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TriggerParams(_Params):
    """Parameters of ``pagerduty.trigger``."""

    summary: Annotated[str, BeforeValidator(_summary), Field(min_length=1, max_length=MAX_SUMMARY)]
    severity: Annotated[Severity, BeforeValidator(_severity)] = Field(
        Severity.ERROR, description="critical | error | warning | info (or low | medium | high)"
    )
    source: str = Field("fireline", min_length=1, max_length=1024, description="Affected system")
    component: Annotated[str | None, BlankIsNone] = Field(None, max_length=1024)
    group: Annotated[str | None, BlankIsNone] = Field(None, max_length=1024)
    event_class: Annotated[str | None, BlankIsNone] = Field(None, alias="class", max_length=1024)
    custom_details: dict[str, Any] = Field(default_factory=dict)
    dedup_key: Annotated[DedupKey | None, BlankIsNone] = Field(
        None,
        description="Incident key; the step's idempotency key when omitted, so retries do not page twice",
    )
    timestamp: Annotated[datetime | None, BlankIsNone] = None
    links: list[Link] = Field(default_factory=list, max_length=20)


class ResolveParams(_Params):
    """Parameters of ``pagerduty.resolve`` and ``pagerduty.acknowledge``."""

    dedup_key: DedupKey = Field(description="The trigger's dedup key, e.g. {{ steps.page.output.dedup_key }}")


class EventResult(BaseModel):
    """What the actions return."""

    status: str
    message: str
    dedup_key: str
    event_action: EventAction
