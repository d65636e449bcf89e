"""Approvals: ask, notify, wait, escalate, time out, and decide (validated) — for one run."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from engine.errors import ApprovalRefused
from engine.plan.addresses import StepAddress, find_by_path, local_path
from engine.plan.audit import AuditChain
from engine.plan.edits import check_edits, edit_trail
from engine.plan.executor import ApprovalMock, Executor
from engine.plan.models import ApprovalPlan, StepKind
from engine.plan.notices import ApprovalNotice, MessageRef, NoticeKind
from engine.plan.state import ApprovalRecord, Decision, RunState, StepRecord, StepStatus
from engine.spec.models import OnTimeout


def approved(record: StepRecord) -> bool:
    """True when the approval ended approved (by a human or by ``on_timeout: approve``)."""
    return record.approval is not None and record.approval.decision is Decision.APPROVE


class ApprovalDesk:
    """Everything about approvals in one run; decisions arrive through :meth:`decide`."""

    def __init__(
        self,
        state: RunState,
        executor: Executor,
        audit: AuditChain,
        *,
        playbook: str,
        path_prefix: str = "",
        mocks: Mapping[str, ApprovalMock] | None = None,
    ) -> None:
        self.state = state
        self.executor = executor
        self.audit = audit
        self.playbook = playbook
        self.path_prefix = path_prefix
        self.mocks = dict(mocks or {})
        #: The plan of each approval asked for, by path: what an edit is checked against.
        self.specs: dict[str, ApprovalPlan] = {}

    async def run(
        self,
        spec: ApprovalPlan,
        record: StepRecord,
        title: str,
        details: str,
        done: list[str],
        deadline: datetime | None = None,
        *,
        guards: str | None = None,
        editable: Mapping[str, Any] | None = None,
    ) -> None:
        """Ask for a decision and wait for it, reminding, escalating and timing out as the spec says.

        ``deadline`` (rendered from ``spec.deadline``) replaces ``spec.timeout_s``: legal clocks
        start before the run does.
        """
        now = self.executor.now()
        approval = ApprovalRecord(
            title=title,
            details=details,
            approvers=list(spec.approvers),
            requested_at=now,
            deadline=deadline or now + timedelta(seconds=spec.timeout_s),
            guards=guards,
            editable=dict(editable or {}),
        )
        self.specs[record.path] = spec
        record.approval = approval
        record.status = StepStatus.WAITING
        self.audit.append(
            now, "approval.requested", step=record.path, detail={"approvers": approval.approvers}
        )
        evidence = self._evidence(done)
        await self._notify(NoticeKind.REQUESTED, record, evidence)
        await self._wait_out(spec, record, evidence)

    async def resume(self, spec: ApprovalPlan, record: StepRecord, done: list[str]) -> None:
        """Go on waiting for an approval asked for before the run continued as new.

        Nothing is asked again: reminders already sent are not repeated, the deadline stands.
        """
        self.specs[record.path] = spec
        await self._wait_out(spec, record, self._evidence(done))

    def _evidence(self, done: list[str]) -> str:
        return f"alert: {self.state.alert_title}; done before: {', '.join(done) or 'nothing'}"[:500]

    async def _wait_out(self, spec: ApprovalPlan, record: StepRecord, evidence: str) -> None:
        """Remind, escalate and time out until a decision comes; then record the outcome."""
        approval = record.approval
        assert approval is not None
        if approval.deadline_extended:  # resumed after a late escalation: only the new deadline is left
            left_s = (approval.deadline - self.executor.now()).total_seconds()
            decided = await self._await_decision(record, max(left_s, 0))
        else:
            decided = await self._remind_until_deadline(spec, record, evidence)
        late_escalation = (
            spec.on_timeout is OnTimeout.ESCALATE and spec.escalate_to and not approval.escalated_at
        )
        if not decided and late_escalation:
            await self._escalate(spec, record, evidence)
            approval.deadline = self.executor.now() + timedelta(seconds=spec.timeout_s)
            approval.deadline_extended = True
            decided = await self._await_decision(record, spec.timeout_s)
        if not decided:
            approval.timed_out = True
            approval.decision = Decision.APPROVE if spec.on_timeout is OnTimeout.APPROVE else Decision.REJECT
            approval.decided_by = "timeout"
            approval.decided_at = self.executor.now()
            record.status = StepStatus.TIMED_OUT
            self.audit.append(
                approval.decided_at, "approval.timed_out", step=record.path, outcome=approval.decision.value
            )
        record.output = {
            "approved": approved(record),
            "decided_by": approval.decided_by,
            "reason": approval.reason,
        }
        await self._notify(NoticeKind.DECIDED, record, evidence, wait=False)

    async def _remind_until_deadline(self, spec: ApprovalPlan, record: StepRecord, evidence: str) -> bool:
        """Wait for the deadline, stopping at each reminder; the last reminder escalates."""
        approval = record.approval
        assert approval is not None
        # After the request (or the last reminder sent, when resumed): a reminder whose moment came
        # just as the run continued as new is sent now rather than lost.
        since = max([approval.requested_at, *approval.reminded_at])
        moments = [approval.deadline - timedelta(seconds=s) for s in spec.remind_before_s]
        reminders = [moment for moment in moments if moment > since]
        for index, moment in enumerate(reminders):
            window_s = max((moment - self.executor.now()).total_seconds(), 0)
            if await self._await_decision(record, window_s):
                return True
            now = self.executor.now()
            approval.reminded_at.append(now)
            left_s = (approval.deadline - now).total_seconds()
            self.audit.append(now, "approval.reminded", step=record.path, detail={"left_s": left_s})
            await self._notify(NoticeKind.REMINDER, record, evidence, wait=False)
            if index == len(reminders) - 1 and spec.escalate_to:
                await self._escalate(spec, record, evidence)
        left_s = (approval.deadline - self.executor.now()).total_seconds()
        return await self._await_decision(record, max(left_s, 0))

    async def _escalate(self, spec: ApprovalPlan, record: StepRecord, evidence: str) -> None:
        approval = record.approval
        assert approval is not None
        approval.escalated_at = self.executor.now()
        approval.approvers = list(dict.fromkeys([*approval.approvers, *spec.escalate_to]))
        self.audit.append(
            approval.escalated_at, "approval.escalated", step=record.path, detail={"to": spec.escalate_to}
        )
        await self._notify(NoticeKind.ESCALATED, record, evidence, wait=False)

    async def _notify(
        self, kind: NoticeKind, record: StepRecord, evidence: str, *, wait: bool = True
    ) -> None:
        approval = record.approval
        assert approval is not None
        notice = ApprovalNotice(
            kind=kind,
            run_id=self.state.run_id,
            playbook=self.playbook,
            # The run that owns the step and the path it knows the step by: where a decision goes.
            step=record.path,
            prefix=self.path_prefix,
            approval=approval.model_copy(),
            evidence=evidence,
            messages=[MessageRef.model_validate(m) for m in approval.messages],
        )
        if not wait:
            await self.executor.notify_later(notice)
            return
        refs = await self.executor.notify(notice)
        known = {(m["channel"], m["ts"]) for m in approval.messages}
        approval.messages += [r.model_dump() for r in refs if (r.channel, r.ts) not in known]

    async def _await_decision(self, record: StepRecord, window_s: float) -> bool:
        approval = record.approval
        assert approval is not None
        mock = self._mock(f"{self.path_prefix}{record.path}")
        if mock is not None and mock.decision is not None:
            due = approval.requested_at + timedelta(seconds=mock.after_s)
            until_due = (due - self.executor.now()).total_seconds()
            if until_due <= window_s:
                if not await self.executor.wait_until(
                    lambda: approval.decision is not None, max(until_due, 0)
                ):
                    self._apply(
                        record, mock.decision, mock.by, mock.reason, via="rehearsal", edits=mock.edits
                    )
                return True
        return await self.executor.wait_until(lambda: approval.decision is not None, window_s)

    def _mock(self, qualified: str) -> ApprovalMock | None:
        """The rehearsal's script for the approval at ``qualified`` (exact item, every item, bare id)."""
        return find_by_path(self.mocks, qualified)

    def address(self, path: str) -> StepAddress:
        """The step at ``path`` (this run's own path, or its qualified one) in this run."""
        return StepAddress(
            run_id=self.state.run_id,
            path=local_path(self.state, self.path_prefix, path),
            prefix=self.path_prefix,
        )

    def check(
        self,
        path: str,
        by: str,
        groups: list[str],
        decision: Decision,
        reason: str,
        edits: Mapping[str, Any] | None = None,
    ) -> StepRecord:
        """Raise :class:`ApprovalRefused` unless ``by`` may decide the pending approval at ``path`` now.

        ``path`` is this run's own path of the step, or its qualified path (a child run's prefix first).
        """
        path = self.address(path).path
        record = self.state.step(path)
        if record is None or record.kind is not StepKind.APPROVAL or record.approval is None:
            pending = ", ".join(r.path for r in self.state.pending_approvals()) or "none"
            raise ApprovalRefused(f"no approval step {path!r} in this run (pending: {pending})")
        if record.approval.decision is not None:
            raise ApprovalRefused(already_decided(path, record))
        if record.status is not StepStatus.WAITING:
            raise ApprovalRefused(f"{path} is not waiting for a decision (status {record.status})")
        allowed = set(record.approval.approvers)
        if by not in allowed and not any(f"group:{g}" in allowed for g in groups):
            raise ApprovalRefused(
                f"{by} is not an approver of {path} (approvers: {', '.join(sorted(allowed))})"
            )
        if decision is Decision.REJECT and not reason.strip():
            raise ApprovalRefused("a rejection needs a reason")
        if edits and decision is not Decision.APPROVE:
            raise ApprovalRefused("edited arguments only go with an approval; reject without them")
        spec = self.specs.get(path)
        if edits:
            check_edits(
                path,
                spec.guards if spec else None,
                spec.editable if spec else [],
                spec.edit_schema if spec else {},
                edits,
            )
        return record

    def decide(
        self,
        path: str,
        by: str,
        groups: list[str],
        decision: Decision,
        reason: str,
        via: str = "cli",
        edits: Mapping[str, Any] | None = None,
    ) -> StepRecord:
        """Validate and apply a human decision."""
        record = self.check(path, by, groups, decision, reason, edits)
        self._apply(record, decision, by, reason, via=via, edits=edits)
        return record

    def _apply(
        self,
        record: StepRecord,
        decision: Decision,
        by: str,
        reason: str,
        *,
        via: str,
        edits: Mapping[str, Any] | None = None,
    ) -> None:
        approval = record.approval
        assert approval is not None
        approval.decision = decision
        approval.decided_by = by
        approval.reason = reason
        approval.decided_at = self.executor.now()
        approval.decided_via = via
        record.status = StepStatus.SUCCEEDED if decision is Decision.APPROVE else StepStatus.REJECTED
        detail: dict[str, Any] = {"reason": reason, "via": via}
        # A value sent back as it was shown is no edit (Slack's modal returns every field).
        edits = {
            k: v for k, v in (edits or {}).items() if k not in approval.editable or approval.editable[k] != v
        }
        if edits:
            approval.edits = dict(edits)
            # Runs without edits keep the event (and so the hash chain) they always had.
            detail["edited"] = {"step": approval.guards, **edit_trail(approval.editable, edits)}
        self.audit.append(
            approval.decided_at,
            "approval.decided",
            step=record.path,
            outcome=decision.value,
            actor=by,
            detail=detail,
        )

    def edits_for(self, path: str) -> dict[str, Any]:
        """The approver's edits for the step at ``path`` (empty unless an approval guarding it was edited)."""
        for record in self.state.steps:
            approval = record.approval
            if approval and approval.guards == path and approval.decision is Decision.APPROVE:
                return dict(approval.edits)
        return {}


def already_decided(path: str, record: StepRecord) -> str:
    """What a second decision on a decided approval is told: who decided, when and how."""
    approval = record.approval
    assert approval is not None and approval.decision is not None
    verb = "approved" if approval.decision is Decision.APPROVE else "rejected"
    when = approval.decided_at.isoformat().replace("+00:00", "Z") if approval.decided_at else "?"
    if approval.timed_out:
        return f"{path} was already {verb} at {when}: nobody decided before the deadline"
    via = f" via {approval.decided_via}" if approval.decided_via else ""
    return f"{path} was already {verb} by {approval.decided_by} at {when}{via}"
