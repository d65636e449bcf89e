"""Parameters of ``review.compile``, the audit events it reads, and the review it builds.

:class:`AuditRecord` mirrors the chained event fireline stores under ``fireline.event`` in the
``fireline-audit-*`` indices; only the fields the review reads are declared, the rest is ignored.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

AUDIT_PATTERN = "fireline-audit-*"
REVIEWS_INDEX = "fireline-reviews"
_INDEX = r"^[a-z0-9][a-z0-9._-]*$"


def _blank_is_none(value: Any) -> Any:
    # Templated arguments render a missing value as "": treat it as not given.
    return None if isinstance(value, str) and not value.strip() else value


def _cut_title(value: Any) -> Any:
    return value[:299] + "…" if isinstance(value, str) and len(value) > 300 else value


class AuditAction(StrEnum):
    """What an audit event records."""

    RUN_STARTED = "run.started"
    RUN_FINISHED = "run.finished"
    STEP_STARTED = "step.started"
    STEP_FINISHED = "step.finished"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_DECIDED = "approval.decided"
    APPROVAL_TIMED_OUT = "approval.timed_out"
    APPROVAL_ESCALATED = "approval.escalated"
    ALERT_JOINED = "alert.joined"


class AuditRecord(BaseModel):
    """One event of a run's audit trail."""

    model_config = ConfigDict(extra="ignore")

    run_id: str
    seq: int
    at: datetime
    action: str
    playbook: str = ""
    version: int = 0
    step: str | None = None
    outcome: str | None = None
    actor: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class ReviewParams(BaseModel):
    """Parameters of ``review.compile``."""

    model_config = ConfigDict(extra="forbid")

    run_id: Annotated[str | None, BeforeValidator(_blank_is_none)] = Field(
        None, min_length=1, max_length=200, description="The run to review; this run when omitted"
    )
    title: Annotated[str | None, BeforeValidator(_cut_title)] = Field(
        None, max_length=300, description="Heading; the alert's title by default"
    )
    alert_occurred_at: Annotated[datetime | None, BeforeValidator(_blank_is_none)] = Field(
        None, description="When the problem began (alert.occurred_at), for the time to detect"
    )
    containment_steps: list[str] = Field(
        default_factory=list, description="Step ids or paths that contain the incident"
    )
    notification_steps: list[str] = Field(
        default_factory=list, description="Step ids or paths that notify people"
    )
    evidence: dict[str, Any] = Field(default_factory=dict, description="Findings to include, by name")
    follow_ups: list[str] = Field(default_factory=list, max_length=200, description="Open items to list")
    channel: Annotated[str | None, BeforeValidator(_blank_is_none)] = Field(
        None, description="Slack channel to post the review to"
    )
    thread_ts: Annotated[str | None, BeforeValidator(_blank_is_none)] = Field(
        None, description="The incident thread in that channel"
    )
    index: str = Field(REVIEWS_INDEX, pattern=_INDEX, max_length=255)
    audit_index: str = Field(AUDIT_PATTERN, pattern=r"^[a-z0-9*][a-z0-9.*_,-]*$", max_length=1000)

    @model_validator(mode="after")
    def _thread_needs_channel(self) -> ReviewParams:
        if self.thread_ts is not None and self.channel is None:
            raise ValueError("`thread_ts` needs `channel`")
        return self


class Durations(BaseModel):
    """Response times in seconds (``None`` when the trail cannot tell)."""

    detect_s: float | None = Field(None, description="Problem began → run started")
    contain_s: float | None = Field(None, description="Run started → first containment step succeeded")
    notify_s: float | None = Field(None, description="Run started → first notification step succeeded")
    total_s: float | None = Field(None, description="Run started → run finished")


class TimelineEntry(BaseModel):
    """One line of the timeline."""

    at: datetime
    offset_s: float
    event: str
    step: str | None = None
    outcome: str | None = None
    actor: str | None = None
    note: str = ""


class Decision(BaseModel):
    """A human (or a timeout) deciding an approval."""

    step: str
    requested_at: datetime | None = None
    approvers: list[str] = Field(default_factory=list)
    escalated_to: list[str] = Field(default_factory=list)
    decided_at: datetime | None = None
    decision: str = "pending"
    by: str | None = None
    reason: str = ""
    via: str = ""
    timed_out: bool = False

    @property
    def waited_s(self) -> float | None:
        """Seconds from request to decision."""
        if self.requested_at is None or self.decided_at is None:
            return None
        return (self.decided_at - self.requested_at).total_seconds()


class ActionTaken(BaseModel):
    """A step that acted on the outside world (an action or a child playbook)."""

    step: str
    kind: str
    outcome: str
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str = ""


class Technique(BaseModel):
    """One classification id and its name on the pinned list."""

    id: str
    name: str = ""


class ClassificationGroup(BaseModel):
    """The ids of one framework (MITRE ATLAS, OWASP LLM Top 10) the run was classified by."""

    framework: str
    title: str
    version: str = ""
    ids: list[Technique] = Field(default_factory=list)


class Review(BaseModel):
    """Everything the review says, before rendering."""

    run_id: str
    playbook: str
    version: int
    title: str
    alert_id: str = ""
    outcome: str = "unknown"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    generated_at: datetime
    durations: Durations
    timeline: list[TimelineEntry]
    omitted_events: int = 0
    decisions: list[Decision]
    actions: list[ActionTaken]
    follow_ups: list[str]
    joined_alerts: int = 0
    evidence: dict[str, Any] = Field(default_factory=dict)
    classification: list[ClassificationGroup] = Field(default_factory=list)
    rejected_ids: list[str] = Field(default_factory=list, description="Ids the alert offered, not accepted")
    events: int = 0
    missing_seq: list[int] = Field(default_factory=list)
    summary: str = ""


def matches(path: str, name: str) -> bool:
    """True when step ``path`` (``tell.page``, ``revoke[2].call``) is the step ``name`` refers to."""
    plain = re.sub(r"\[\d+\]", "", path)
    return name in (path, plain, plain.rsplit(".", 1)[-1])
