"""What the conductor needs from the world: the :class:`Executor` protocol and its messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from engine.errors import FirelineError
from engine.plan.audit import AuditEvent
from engine.plan.notices import ApprovalNotice, MessageRef
from engine.plan.state import Decision


class StepFailure(FirelineError):
    """One attempt of a step failed."""

    def __init__(self, message: str, *, type: str = "Error", retryable: bool = True) -> None:
        self.type = type
        self.retryable = retryable
        super().__init__(message)


@dataclass(frozen=True)
class ActionCall:
    """What the executor needs to run one attempt of an action (and audit events to store)."""

    action: str
    args: dict[str, Any]
    path: str
    idempotency_key: str
    attempt: int
    timeout_s: float
    audit: list[AuditEvent] = field(default_factory=list)


@dataclass(frozen=True)
class ActionOutcome:
    """What one successful attempt returned, and whether the audit events it carried were stored."""

    output: Any
    audit_stored: bool = False
    audit_enabled: bool = True
    audit_stored_seqs: tuple[int, ...] = ()


@dataclass(frozen=True)
class ApprovalMock:
    """A rehearsal's scripted answer to an approval."""

    decision: Decision | None
    by: str = "user:rehearsal"
    after_s: float = 0.0
    reason: str = ""
    edits: dict[str, Any] = field(default_factory=dict)


class Executor(Protocol):
    """The side-effecting operations a run needs."""

    def now(self) -> datetime: ...

    async def run_action(self, call: ActionCall) -> ActionOutcome: ...

    async def sleep(self, seconds: float) -> None: ...

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool: ...

    async def run_child(
        self, path: str, playbook: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]: ...

    async def notify(self, notice: ApprovalNotice) -> list[MessageRef]:
        """Tell responders about an approval; never raises (a lost notice must not stop the run)."""
        ...

    async def notify_later(self, notice: ApprovalNotice) -> None:
        """Send a notice without holding up the run (awaited by :meth:`drain`)."""
        ...

    async def drain(self) -> None:
        """Wait for notices sent with :meth:`notify_later`."""
        ...

    async def store_audit(self, events: list[AuditEvent]) -> bool:
        """Store audit events that no action carried; True when stored."""
        ...
