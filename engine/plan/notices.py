"""Approval notices: what the run tells chat (or any notifier) about an approval's life."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from engine.plan.state import ApprovalRecord


class NoticeKind(StrEnum):
    """The moment an approval notice is about."""

    REQUESTED = "requested"
    REMINDER = "reminder"
    ESCALATED = "escalated"
    DECIDED = "decided"


class MessageRef(BaseModel):
    """Where a notifier put a message, so later notices can update it in place."""

    notifier: str
    channel: str
    ts: str


class ApprovalNotice(BaseModel):
    """One notice; ``messages`` carries the refs of earlier notices of the same approval."""

    kind: NoticeKind
    run_id: str
    playbook: str
    step: str
    approval: ApprovalRecord
    evidence: str = ""
    messages: list[MessageRef] = Field(default_factory=list)
