"""The live state of a run: its timeline, approvals and outcome (the ``status`` query's answer)."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, field_serializer

from engine.classification.tags import Classification
from engine.plan.models import StepKind
from engine.plan.packed import unpacked


class StepStatus(StrEnum):
    """Where a step is."""

    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    REJECTED = "rejected"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True when the step will not change any more."""
        return self not in (StepStatus.RUNNING, StepStatus.WAITING)


class RunStatus(StrEnum):
    """Where a run is."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Decision(StrEnum):
    """A human's answer to an approval."""

    APPROVE = "approve"
    REJECT = "reject"


class Attempt(BaseModel):
    """One try of an action."""

    number: int
    started_at: datetime
    finished_at: datetime | None = None
    error_type: str | None = None
    error: str | None = None


class ApprovalRecord(BaseModel):
    """An approval request and its outcome."""

    title: str
    details: str = ""
    approvers: list[str]
    requested_at: datetime
    deadline: datetime
    decision: Decision | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str = ""
    escalated_at: datetime | None = None
    reminded_at: list[datetime] = Field(default_factory=list)
    timed_out: bool = False
    messages: list[dict[str, str]] = Field(default_factory=list)
    decided_via: str = ""
    #: Path of the step this approval guards, when it names one.
    guards: str | None = None
    #: The editable arguments of the guarded step as rendered when the approval was asked for.
    editable: dict[str, Any] = Field(default_factory=dict)
    #: The approver's new values for some of them; the guarded step runs with these.
    edits: dict[str, Any] = Field(default_factory=dict)
    #: True once a late escalation moved the deadline (nobody is reminded again after that).
    deadline_extended: bool = False


class StepRecord(BaseModel):
    """One step's entry on the timeline."""

    path: str
    id: str
    kind: StepKind
    name: str = ""
    status: StepStatus = StepStatus.RUNNING
    started_at: datetime
    finished_at: datetime | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    #: What the step gave; inside a run a large one may be a PackedOutput, serialized as its value.
    output: Any = None
    error_type: str | None = None
    error: str | None = None
    approval: ApprovalRecord | None = None
    child_run: str | None = None
    #: Arguments an approver changed before this (guarded) action ran: the values it ran with.
    edited_args: dict[str, Any] = Field(default_factory=dict)

    @field_serializer("output", mode="wrap")
    def _output_value(self, output: Any, handler: SerializerFunctionWrapHandler) -> Any:
        return handler(unpacked(output))

    @property
    def output_summary(self) -> str:
        """A one-line summary of the output for timelines."""
        return summarize(unpacked(self.output))


class JoinedAlert(BaseModel):
    """An alert that joined this run as a repeat of the same incident."""

    id: str
    title: str = ""
    received_at: datetime


class RunReset(BaseModel):
    """A responder re-ran this run from one of its steps (a Temporal reset of the workflow)."""

    id: str
    step: str
    by: str
    reason: str
    via: str = "cli"
    at: datetime
    #: Temporal run ids: the run that was replaced, and the one that re-runs from ``step``.
    from_run: str
    to_run: str
    #: How the replaced run had ended (its ``failure``), when it had failed.
    previous_failure: dict[str, str] | None = None


class RunState(BaseModel):
    """The whole run, as the ``status`` query returns it."""

    run_id: str
    playbook: str
    version: int
    sha256: str
    status: RunStatus = RunStatus.RUNNING
    started_at: datetime
    finished_at: datetime | None = None
    alert_id: str = ""
    alert_title: str = ""
    severity: str = ""
    steps: list[StepRecord] = Field(default_factory=list)
    outputs: dict[str, Any] = Field(default_factory=dict)
    failure: dict[str, str] | None = None
    joined_alerts: list[JoinedAlert] = Field(default_factory=list)
    classification: Classification = Field(default_factory=Classification)
    resets: list[RunReset] = Field(default_factory=list)
    #: How often the run continued as new in Temporal (a fresh history, the same run).
    continuations: int = 0

    def step(self, path: str) -> StepRecord | None:
        """The latest record of ``path``."""
        for record in reversed(self.steps):
            if record.path == path:
                return record
        return None

    def pending_approvals(self) -> list[StepRecord]:
        """Approvals still waiting for a decision."""
        return [r for r in self.steps if r.kind is StepKind.APPROVAL and r.status is StepStatus.WAITING]


def summarize(value: Any, limit: int = 120) -> str:
    """Short human summary of a JSON-like value."""
    if value is None:
        return ""
    if isinstance(value, dict):
        parts = []
        for key, item in list(value.items())[:6]:
            if isinstance(item, list):
                parts.append(f"{key}=[{len(item)}]")
            elif isinstance(item, dict):
                parts.append(f"{key}={{{len(item)}}}")
            else:
                parts.append(f"{key}={str(item)[:40]}")
        text = " ".join(parts)
    elif isinstance(value, list):
        text = f"[{len(value)} items]"
    else:
        text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"
