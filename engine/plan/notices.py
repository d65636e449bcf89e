"""Approval notices: what the run tells chat (or any notifier) about an approval's life."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from engine.plan.addresses import StepAddress
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
    """One notice; ``messages`` carries the refs of earlier notices of the same approval.

    ``run_id`` is the run that owns the approval and ``step`` its path in that run, so a decision
    sent back to ``(run_id, step)`` reaches it (a child run's too); ``prefix`` places a child run
    in its parent, for people (:attr:`address`).
    """

    kind: NoticeKind
    run_id: str
    playbook: str
    step: str
    approval: ApprovalRecord
    evidence: str = ""
    messages: list[MessageRef] = Field(default_factory=list)
    prefix: str = ""

    @property
    def address(self) -> StepAddress:
        """Where the approval lives."""
        return StepAddress(run_id=self.run_id, path=self.step, prefix=self.prefix)
