"""The conductor: runs a plan step by step over an :class:`Executor`.

It holds all step logic (if/skip, retries, for_each, parallel, approvals,
on_error, on_failure, outputs) as plain asyncio code. The Temporal workflow
supplies an executor whose calls are activities, timers and child workflows;
tests supply a simulated one. So the logic is tested without Temporal and the
workflow stays a thin, deterministic shell.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from engine.errors import ApprovalRefused, FirelineError, TemplateError
from engine.plan.models import Plan, PlanStep, StepKind
from engine.plan.notices import ApprovalNotice, MessageRef, NoticeKind
from engine.plan.state import (
    ApprovalRecord,
    Attempt,
    Decision,
    RunState,
    RunStatus,
    StepRecord,
    StepStatus,
)
from engine.spec.models import OnError, OnTimeout
from engine.templating import TemplateEngine

MAX_LOOP_ITEMS = 1000


class StepFailure(FirelineError):
    """One attempt of a step failed."""

    def __init__(self, message: str, *, type: str = "Error", retryable: bool = True) -> None:
        self.type = type
        self.retryable = retryable
        super().__init__(message)


@dataclass(frozen=True)
class ActionCall:
    """What the executor needs to run one attempt of an action."""

    action: str
    args: dict[str, Any]
    path: str
    idempotency_key: str
    attempt: int
    timeout_s: float


@dataclass(frozen=True)
class ApprovalMock:
    """A rehearsal's scripted answer to an approval."""

    decision: Decision | None
    by: str = "user:rehearsal"
    after_s: float = 0.0
    reason: str = ""


class Executor(Protocol):
    """The side-effecting operations a run needs."""

    def now(self) -> datetime: ...

    async def run_action(self, call: ActionCall) -> Any: ...

    async def sleep(self, seconds: float) -> None: ...

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool: ...

    async def run_child(
        self, path: str, playbook: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]: ...

    async def notify(self, notice: ApprovalNotice) -> list[MessageRef]:
        """Tell responders about an approval; never raises (a lost notice must not stop the run)."""
        ...


class _BlockFailed(Exception):
    def __init__(self, record: StepRecord) -> None:
        self.record = record
        super().__init__(record.path)


@dataclass
class _Frame:
    steps: dict[str, dict[str, Any]]
    variables: dict[str, Any] = field(default_factory=dict)

    def child(self, **variables: Any) -> _Frame:
        return _Frame(steps=dict(self.steps), variables={**self.variables, **variables})


def step_view(record: StepRecord) -> dict[str, Any]:
    """What ``steps.<id>`` shows to templates."""
    view: dict[str, Any] = {
        "status": record.status.value,
        "output": record.output,
        "error": record.error,
        "attempts": len(record.attempts),
    }
    if record.approval is not None:
        view["approved"] = _approved(record)
        view["decided_by"] = record.approval.decided_by
        view["reason"] = record.approval.reason
    return view


def _approved(record: StepRecord) -> bool:
    approval = record.approval
    if approval is None:
        return False
    return approval.decision is Decision.APPROVE


class Conductor:
    """Runs one plan; owns the run's :class:`RunState`."""

    def __init__(
        self,
        plan: Plan,
        state: RunState,
        *,
        alert: Mapping[str, Any],
        inputs: Mapping[str, Any],
        executor: Executor,
        engine: TemplateEngine,
        approval_mocks: Mapping[str, ApprovalMock] | None = None,
        path_prefix: str = "",
    ) -> None:
        self.plan = plan
        self.state = state
        self.executor = executor
        self.engine = engine
        self.approval_mocks = dict(approval_mocks or {})
        self.path_prefix = path_prefix
        self.run_view = {
            "id": state.run_id,
            "workflow_id": state.run_id,
            "playbook": plan.name,
            "version": plan.version,
            "sha256": plan.sha256,
            "started_at": state.started_at.isoformat().replace("+00:00", "Z"),
        }
        self.base_context = {"alert": dict(alert), "inputs": dict(inputs), "run": self.run_view}

    # -- running ----------------------------------------------------------------------------------------
    async def run(self) -> RunState:
        """Run every step, then ``outputs`` or ``on_failure``; returns the final state."""
        frame = _Frame(steps={})
        try:
            await self._run_block(self.plan.steps, frame, "")
            self.state.outputs = self._render(self.plan.outputs, frame) if self.plan.outputs else {}
            self.state.status = RunStatus.SUCCEEDED
        except _BlockFailed as failed:
            record = failed.record
            self.state.failure = {
                "step": record.path,
                "message": record.error or "failed",
                "type": record.error_type or "Error",
            }
            await self._run_on_failure(frame)
            self.state.status = RunStatus.FAILED
        except TemplateError as exc:
            self.state.failure = {"step": "outputs", "message": str(exc), "type": "TemplateError"}
            await self._run_on_failure(frame)
            self.state.status = RunStatus.FAILED
        except asyncio.CancelledError:
            self._mark_cancelled()
            self.state.status = RunStatus.CANCELLED
            self.state.finished_at = self.executor.now()
            raise
        self.state.finished_at = self.executor.now()
        return self.state

    async def _run_on_failure(self, frame: _Frame) -> None:
        if not self.plan.on_failure:
            return
        frame.variables["failure"] = dict(self.state.failure or {})
        try:
            await self._run_block(self.plan.on_failure, frame, "on_failure.")
        except _BlockFailed:
            return  # already on the timeline; the run is failed either way

    def _mark_cancelled(self) -> None:
        now = self.executor.now()
        for record in self.state.steps:
            if not record.status.finished:
                record.status = StepStatus.CANCELLED
                record.finished_at = now

    async def _run_block(self, steps: list[PlanStep], frame: _Frame, prefix: str) -> None:
        for step in steps:
            record = await self._run_step(step, frame, prefix)
            if record.status is StepStatus.FAILED and step.on_error is OnError.FAIL:
                raise _BlockFailed(record)

    async def _run_step(self, step: PlanStep, frame: _Frame, prefix: str) -> StepRecord:
        record = StepRecord(
            path=f"{prefix}{step.id}",
            id=step.id,
            kind=step.kind,
            name=step.name,
            started_at=self.executor.now(),
        )
        self.state.steps.append(record)
        try:
            if step.condition is not None and not self.engine.evaluate(step.condition, self._context(frame)):
                record.status = StepStatus.SKIPPED
            else:
                await self._dispatch(step, record, frame)
        except TemplateError as exc:
            self._fail(record, "TemplateError", str(exc))
        except _BlockFailed as inner:
            self._fail(
                record, inner.record.error_type or "Error", f"{inner.record.path}: {inner.record.error}"
            )
        record.finished_at = self.executor.now()
        frame.steps[step.id] = step_view(record)
        return record

    async def _dispatch(self, step: PlanStep, record: StepRecord, frame: _Frame) -> None:
        if step.kind is StepKind.ACTION:
            await self._action(step, record, frame)
        elif step.kind is StepKind.APPROVAL:
            await self._approval(step, record, frame)
        elif step.kind is StepKind.FOR_EACH:
            await self._for_each(step, record, frame)
        elif step.kind is StepKind.PARALLEL:
            await self._parallel(step, record, frame)
        elif step.kind is StepKind.WAIT:
            await self._wait(step, record, frame)
        elif step.kind is StepKind.PLAYBOOK:
            await self._child(step, record, frame)

    @staticmethod
    def _fail(record: StepRecord, error_type: str, message: str) -> None:
        record.status = StepStatus.FAILED
        record.error_type = error_type
        record.error = message

    # -- step kinds ---------------------------------------------------------------------------------------
    async def _action(self, step: PlanStep, record: StepRecord, frame: _Frame) -> None:
        args = self._render(step.args, frame)
        full_path = f"{self.path_prefix}{record.path}"
        for number in range(1, step.retry.attempts + 1):
            attempt = Attempt(number=number, started_at=self.executor.now())
            record.attempts.append(attempt)
            call = ActionCall(
                action=step.action or "",
                args=args,
                path=full_path,
                idempotency_key=f"{self.state.run_id}:{full_path}",
                attempt=number,
                timeout_s=step.timeout_s,
            )
            try:
                record.output = await self.executor.run_action(call)
            except StepFailure as failure:
                attempt.finished_at = self.executor.now()
                attempt.error_type, attempt.error = failure.type, str(failure)
                if not failure.retryable or number == step.retry.attempts:
                    self._fail(record, failure.type, str(failure))
                    return
                await self.executor.sleep(step.retry.delay_before(number + 1))
                continue
            attempt.finished_at = self.executor.now()
            record.status = StepStatus.SUCCEEDED
            return

    async def _approval(self, step: PlanStep, record: StepRecord, frame: _Frame) -> None:
        spec = step.approval
        assert spec is not None
        now = self.executor.now()
        approval = ApprovalRecord(
            title=str(self._render(spec.title, frame)),
            details=str(self._render(spec.details, frame)),
            approvers=list(spec.approvers),
            requested_at=now,
            deadline=now + timedelta(seconds=spec.timeout_s),
        )
        record.approval = approval
        record.status = StepStatus.WAITING
        await self._notify(NoticeKind.REQUESTED, record, frame)
        decided = await self._await_decision(record, spec.timeout_s)
        if not decided and spec.on_timeout is OnTimeout.ESCALATE and spec.escalate_to:
            approval.escalated_at = self.executor.now()
            approval.approvers = list(dict.fromkeys([*approval.approvers, *spec.escalate_to]))
            approval.deadline = approval.escalated_at + timedelta(seconds=spec.timeout_s)
            await self._notify(NoticeKind.ESCALATED, record, frame)
            decided = await self._await_decision(record, spec.timeout_s)
        if not decided:
            approval.timed_out = True
            if spec.on_timeout is OnTimeout.APPROVE:
                approval.decision = Decision.APPROVE
                approval.decided_by = "timeout"
            else:
                approval.decision = Decision.REJECT
                approval.decided_by = "timeout"
            approval.decided_at = self.executor.now()
            record.status = StepStatus.TIMED_OUT
        record.output = {
            "approved": _approved(record),
            "decided_by": approval.decided_by,
            "reason": approval.reason,
        }
        await self._notify(NoticeKind.DECIDED, record, frame)

    async def _notify(self, kind: NoticeKind, record: StepRecord, frame: _Frame) -> None:
        approval = record.approval
        assert approval is not None
        finished = [sid for sid, view in frame.steps.items() if view.get("status") == "succeeded"]
        evidence = f"alert: {self.state.alert_title}; done before: {', '.join(finished) or 'nothing'}"
        notice = ApprovalNotice(
            kind=kind,
            run_id=self.state.run_id,
            playbook=self.plan.name,
            step=f"{self.path_prefix}{record.path}",
            approval=approval.model_copy(),
            evidence=evidence[:500],
            messages=[MessageRef.model_validate(m) for m in approval.messages],
        )
        refs = await self.executor.notify(notice)
        known = {(m["channel"], m["ts"]) for m in approval.messages}
        approval.messages += [r.model_dump() for r in refs if (r.channel, r.ts) not in known]

    async def _await_decision(self, record: StepRecord, window_s: float) -> bool:
        approval = record.approval
        assert approval is not None
        mock = self.approval_mocks.get(f"{self.path_prefix}{record.path}")
        if mock is not None and mock.decision is not None:
            due = approval.requested_at + timedelta(seconds=mock.after_s)
            until_due = (due - self.executor.now()).total_seconds()
            if until_due <= window_s:
                if not await self.executor.wait_until(
                    lambda: approval.decision is not None, max(until_due, 0)
                ):
                    self._apply(record, mock.decision, mock.by, mock.reason)
                return True
        return await self.executor.wait_until(lambda: approval.decision is not None, window_s)

    async def _for_each(self, step: PlanStep, record: StepRecord, frame: _Frame) -> None:
        items = self._render(step.items, frame)
        if not isinstance(items, list):
            self._fail(record, "TypeError", f"for_each needs a list, got {type(items).__name__}")
            return
        if len(items) > MAX_LOOP_ITEMS:
            self._fail(record, "LimitExceeded", f"for_each has {len(items)} items (limit {MAX_LOOP_ITEMS})")
            return
        gate = asyncio.Semaphore(step.max_parallel)
        failures: list[_BlockFailed] = []

        async def one(index: int, item: Any) -> dict[str, Any] | None:
            async with gate:
                if failures:
                    return None
                inner = frame.child(**{step.loop_var: item})
                try:
                    await self._run_block(step.children, inner, f"{record.path}[{index}].")
                except _BlockFailed as failed:
                    failures.append(failed)
                return {c.id: inner.steps[c.id]["output"] for c in step.children if c.id in inner.steps}

        outputs = await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))
        record.output = list(outputs)
        if failures:
            raise failures[0]
        record.status = StepStatus.SUCCEEDED

    async def _parallel(self, step: PlanStep, record: StepRecord, frame: _Frame) -> None:
        prefix = f"{record.path}."
        results = await asyncio.gather(*(self._run_step(child, frame, prefix) for child in step.children))
        record.output = {
            child.id: result.output for child, result in zip(step.children, results, strict=True)
        }
        for child, result in zip(step.children, results, strict=True):
            if result.status is StepStatus.FAILED and child.on_error is OnError.FAIL:
                raise _BlockFailed(result)
        record.status = StepStatus.SUCCEEDED

    async def _wait(self, step: PlanStep, record: StepRecord, frame: _Frame) -> None:
        if step.wait_s is not None:
            seconds = step.wait_s
        else:
            until = self._render(step.wait_until, frame)
            try:
                target = datetime.fromisoformat(str(until).replace("Z", "+00:00"))
            except ValueError:
                self._fail(record, "ValueError", f"wait until {str(until)[:60]!r} is not an ISO-8601 time")
                return
            if target.tzinfo is None:
                self._fail(record, "ValueError", "wait until needs a time zone (e.g. a trailing Z)")
                return
            seconds = (target - self.executor.now()).total_seconds()
        if seconds > 0:
            await self.executor.sleep(seconds)
        record.output = {"waited_s": max(seconds, 0)}
        record.status = StepStatus.SUCCEEDED

    async def _child(self, step: PlanStep, record: StepRecord, frame: _Frame) -> None:
        args = self._render(step.args, frame)
        try:
            child_id, outputs = await self.executor.run_child(
                f"{self.path_prefix}{record.path}", step.playbook or "", args
            )
        except StepFailure as failure:
            self._fail(record, failure.type, str(failure))
            return
        record.child_run = child_id
        record.output = outputs
        record.status = StepStatus.SUCCEEDED

    # -- approvals ----------------------------------------------------------------------------------------
    def check_decision(
        self, path: str, by: str, groups: list[str], decision: Decision, reason: str
    ) -> StepRecord:
        """Raise :class:`ApprovalRefused` unless ``by`` may decide the pending approval at ``path`` now."""
        record = self.state.step(path)
        if record is None or record.kind is not StepKind.APPROVAL or record.approval is None:
            pending = ", ".join(r.path for r in self.state.pending_approvals()) or "none"
            raise ApprovalRefused(f"no approval step {path!r} in this run (pending: {pending})")
        if record.status is not StepStatus.WAITING or record.approval.decision is not None:
            who = record.approval.decided_by or "nobody"
            raise ApprovalRefused(
                f"{path} is not waiting for a decision (status {record.status}, decided by {who})"
            )
        allowed = set(record.approval.approvers)
        if by not in allowed and not any(f"group:{g}" in allowed for g in groups):
            raise ApprovalRefused(
                f"{by} is not an approver of {path} (approvers: {', '.join(sorted(allowed))})"
            )
        if decision is Decision.REJECT and not reason.strip():
            raise ApprovalRefused("a rejection needs a reason")
        return record

    def decide(self, path: str, by: str, groups: list[str], decision: Decision, reason: str) -> StepRecord:
        """Validate and apply a human decision."""
        record = self.check_decision(path, by, groups, decision, reason)
        self._apply(record, decision, by, reason)
        return record

    def _apply(self, record: StepRecord, decision: Decision, by: str, reason: str) -> None:
        approval = record.approval
        assert approval is not None
        approval.decision = decision
        approval.decided_by = by
        approval.reason = reason
        approval.decided_at = self.executor.now()
        record.status = StepStatus.SUCCEEDED if decision is Decision.APPROVE else StepStatus.REJECTED

    # -- templates ----------------------------------------------------------------------------------------
    def _context(self, frame: _Frame) -> dict[str, Any]:
        return {**self.base_context, "steps": frame.steps, **frame.variables}

    def _render(self, value: Any, frame: _Frame) -> Any:
        return self.engine.render(value, self._context(frame))
