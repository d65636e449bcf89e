"""What the ingestion path tells senders, ``fireline alerts`` and the dead-letter store.

Every string that may come from an alert is clipped here (attacker text must stay small in
responses, logs and files).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _clipper(limit: int) -> BeforeValidator:
    def clip(value: Any) -> Any:
        if isinstance(value, str) and len(value) > limit:
            return value[: limit - 1] + "…"
        return value

    return BeforeValidator(clip)


ShortText = Annotated[str, _clipper(200)]
LongText = Annotated[str, _clipper(1000)]


class AlertStatus(StrEnum):
    """What became of one alert (or request)."""

    STARTED = "started"  # at least one playbook started a new run
    QUEUED = "queued"  # stored durably; its runs start (or are joined) in the background
    JOINED = "joined"  # every matching playbook already had a run for this incident
    NO_MATCH = "no_match"  # no playbook's trigger matched
    RESOLVED = "resolved"  # the source says the alert is over; nothing started
    FAILED = "failed"  # matched, but no run could be started (see the dead letter)
    REJECTED = "rejected"  # the request or payload was refused (auth, limits, invalid, unknown id)


class RunDisposition(StrEnum):
    """What happened for one matching playbook."""

    STARTED = "started"
    JOINED = "joined"  # joined the open run as a signal
    JOINED_CLOSED = "joined_closed"  # the run closed less than the dedup window ago
    QUEUED = "queued"  # the alert is spooled; this run (its id known already) starts or is joined next
    FAILED = "failed"


class Via(StrEnum):
    """Which path brought the alert in."""

    RECEIVER = "receiver"
    POLLER = "poller"
    REPLAY = "replay"


class PlaybookOutcome(BaseModel):
    """One matching playbook and the run the alert started or joined."""

    playbook: str
    rule: int = Field(0, description="Index of the trigger rule that matched (0 for `all:`).")
    disposition: RunDisposition
    run_id: str | None = None
    reason: LongText = ""


class AlertOutcome(BaseModel):
    """One alert: who it is, and what it started, joined, or why not."""

    id: ShortText = ""
    source: str = ""
    rule: ShortText = ""
    title: ShortText = ""
    severity: str = ""
    fingerprint: ShortText = ""
    status: AlertStatus
    playbooks: list[PlaybookOutcome] = Field(default_factory=list)
    mismatches: dict[str, LongText] = Field(
        default_factory=dict, description="Playbook → why its trigger did not match (first few only)."
    )
    reason: LongText = ""
    dead_letter: str | None = None


class AlertLogEntry(AlertOutcome):
    """One line of ``fireline alerts``."""

    at: datetime
    via: Via = Via.RECEIVER
    http_status: int | None = None


class IngestResponse(BaseModel):
    """The 202 body: one outcome per alert in the payload."""

    source: str
    accepted: int
    resolved: int = 0
    alerts: list[AlertOutcome] = Field(default_factory=list)
    missing: list[ShortText] = Field(default_factory=list, description="Referenced alert ids not found.")


class ErrorBody(BaseModel):
    """The body of every 4xx/5xx answer."""

    model_config = ConfigDict(extra="forbid")

    error: str
    reason: LongText
    path: ShortText = ""


class DeadLetter(BaseModel):
    """An accepted alert some playbook could not start for; replay with ``fireline alerts replay``."""

    id: str
    at: datetime
    via: Via
    playbooks: list[str]
    reason: LongText
    attempts: int = 1
    alert: dict[str, Any]
