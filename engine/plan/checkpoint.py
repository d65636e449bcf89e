"""What a run carries into its next Temporal run when it continues as new while parked.

A run parked for weeks on an approval or a wait keeps collecting history (repeats of the incident
joining it, reminders). Before the history grows too long it continues as new: the next run starts
from this checkpoint, walks the plan again without re-running finished steps, and picks up its
waits where they were, on the engine code the workers run now.
"""

from __future__ import annotations

from pydantic import BaseModel

from engine.plan.audit import AuditChain, AuditEvent
from engine.plan.models import ApprovalPlan, Plan, StepKind
from engine.plan.state import RunState, StepStatus
from engine.plan.views import approval_steps

#: Steps that may be unfinished at a checkpoint while something inside them (or their timer) waits.
_CONTAINERS = {StepKind.WAIT, StepKind.FOR_EACH, StepKind.PARALLEL}


class AuditCursor(BaseModel):
    """Where the run's hash chain stands: its last link and the events not stored yet."""

    seq: int
    last_hash: str
    pending: list[AuditEvent]
    enabled: bool


class RunCheckpoint(BaseModel):
    """The run so far: its timeline and its audit chain."""

    state: RunState
    audit: AuditCursor


def parked(state: RunState) -> bool:
    """True when every unfinished step waits where a checkpoint can pick it up again.

    Those are approvals waiting for a decision, and waits, loops and parallel blocks; an action
    (running or between retries), a child run, or a decision the run has not acted on yet is not.
    """
    for record in state.steps:
        if record.finished_at is not None or record.status is StepStatus.SKIPPED:
            continue
        if record.kind is StepKind.APPROVAL:
            approval = record.approval
            if record.status is not StepStatus.WAITING or approval is None or approval.decision is not None:
                return False
        elif record.kind not in _CONTAINERS or record.status is not StepStatus.RUNNING:
            return False
    return True


def take_checkpoint(state: RunState, chain: AuditChain) -> RunCheckpoint:
    """The run's timeline and where its chain stands."""
    cursor = AuditCursor(
        seq=chain.seq, last_hash=chain.last_hash, pending=list(chain.pending), enabled=chain.enabled
    )
    return RunCheckpoint(state=state, audit=cursor)


def waiting_specs(plan: Plan, state: RunState) -> dict[str, ApprovalPlan]:
    """The plan of every approval the checkpointed run waits on, by path (what decisions check)."""
    steps = approval_steps(plan.steps + plan.on_failure)
    found: dict[str, ApprovalPlan] = {}
    for record in state.pending_approvals():
        step = steps.get(record.id)
        if step is not None and step.approval is not None:
            found[record.path] = step.approval
    return found
