"""Types that cross the workflow boundary (all pydantic, all JSON)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.plan.audit import AuditEvent
from engine.plan.checkpoint import RunCheckpoint
from engine.plan.models import Plan
from engine.plan.state import Decision

WORKFLOW_NAME = "PlaybookRun"
ACTIVITY_NAME = "run_action"
NOTIFY_ACTIVITY = "notify_approval"
#: Runs recorded before approval notices existed replay without them.
NOTICES_PATCH = "approval-notices-v1"
AUDIT_ACTIVITY = "store_audit"
#: Reminders and decided-notices go out without holding up the next step.
BACKGROUND_NOTICES_PATCH = "background-notices-v1"
#: The client writes the memo at start; the run only updates its status at the end.
LEAN_MEMO_PATCH = "lean-memo-v1"
#: A "decided" notice goes only where the request was posted (it updates those messages in place).
DECIDED_NEEDS_MESSAGE_PATCH = "decided-needs-message-v1"
#: Runs recorded before the audit trail existed replay without its final store.
AUDIT_PATCH = "audit-trail-v1"
#: Events no action carried (the run's end) are stored by a local activity: no extra server round trip.
#: (Runs recorded before the audit outbox only: since it, no event rides along and none waits.)
AUDIT_LOCAL_PATCH = "audit-local-v1"
STATUS_QUERY = "status"
#: Only the approvals still waiting: what a poller asks when it needs to know whether a run is
#: parked. The SDK keeps a run's last answer until its next activation, so a parked run polled
#: this way holds a few hundred bytes, not its whole timeline with every step's output.
PENDING_QUERY = "pending_approvals"
DECIDE_UPDATE = "decide"
#: The ``decide`` validator's refusal when the step belongs to a child run: details are that run's
#: id and the step's path there, so the client sends the decision on (no status query first).
DECISION_ELSEWHERE = "DecisionElsewhere"
JOIN_SIGNAL = "alert_joined"
#: Several repeats at once (the receiver's hand-over coalesces a storm's repeats per run).
JOIN_MANY_SIGNAL = "alerts_joined"
#: Sent by ``fireline reset`` to the run that replaced a reset one: who reset it, to where, and why.
RESET_SIGNAL = "run_reset"
RESET_NOTE_PATCH = "reset-note-v1"
#: A run that was reset waits (bounded) at its end for that note, so the trail always names who reset it.
RESET_NOTE_WAIT_S = 60.0
#: A parked run continues as new (a fresh history) before its history grows too long.
CONTINUE_AS_NEW_PATCH = "continue-as-new-v1"
#: A run hands its audit events to the worker's runner (engine.workflows.audit_outbox): none ride
#: along with its actions, and its end needs no store activity.
AUDIT_OUTBOX_PATCH = "audit-outbox-v1"
#: Runs started since record this one marker for every patch above (see engine.workflows.patches).
#: A later change gets a patch of its own, called with ``workflow.patched``, until a newer bundle.
FEATURES_PATCH = "features-2026-12-07"
#: The bundle before it: every patch above but the audit outbox (runs recorded with it replay so).
EARLIER_FEATURES_PATCH = "features-2026-12"
#: History length at which a parked run continues as new, unless the server suggests it sooner.
CONTINUE_AFTER_EVENTS = 10_000


class ApprovalScript(BaseModel):
    """A rehearsal's scripted approval answer (never set on real runs)."""

    decision: Decision | None = None
    by: str = "user:rehearsal"
    after_s: float = 0.0
    reason: str = ""
    edits: dict[str, Any] = Field(default_factory=dict)


class RunInput(BaseModel):
    """Everything a run starts with; secrets never appear here.

    Unknown fields are ignored, so histories recorded with fields since removed (``task_queue``)
    still replay.
    """

    model_config = ConfigDict(extra="ignore")

    plan: Plan
    alert: dict[str, Any]
    inputs: dict[str, Any] = Field(default_factory=dict)
    path_prefix: str = ""
    rehearsal_approvals: dict[str, ApprovalScript] = Field(default_factory=dict)
    action_queues: dict[str, str] = Field(default_factory=dict)
    #: History length at which the run continues as new while parked (see CONTINUE_AFTER_EVENTS).
    continue_after_events: int = Field(CONTINUE_AFTER_EVENTS, ge=20)
    #: Set only on a run that continued as new: where the run before it stood.
    resume: RunCheckpoint | None = None


class DecisionRequest(BaseModel):
    """A responder's answer to a pending approval, from Slack, the CLI or the web console."""

    step: str
    decision: Decision
    by: str
    groups: list[str] = Field(default_factory=list)
    reason: str = ""
    via: str = "cli"
    #: New values for editable arguments of the step the approval guards (approvals only).
    edits: dict[str, Any] = Field(default_factory=dict)


class ActionRequest(BaseModel):
    """One attempt of one action, as the ``run_action`` activity receives it."""

    action: str
    args: dict[str, Any]
    path: str
    idempotency_key: str
    attempt: int
    run_id: str
    playbook: str
    audit: list[AuditEvent] = Field(default_factory=list)


class ActionResult(BaseModel):
    """What an action returned, capped in size."""

    output: Any = None
    truncated: bool = False
    size_bytes: int = 0
    audit_stored: bool = False
    #: When not all were stored yet: the seqs of the carried audit events Elasticsearch acknowledged.
    audit_stored_seqs: list[int] = Field(default_factory=list)
    audit_enabled: bool = False
