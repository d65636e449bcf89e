"""The conductor: runs a plan step by step over an :class:`Executor`.

It holds all step logic (if/skip, retries, for_each, parallel, approvals,
on_error, on_failure, outputs) as plain asyncio code. The Temporal workflow
supplies an executor whose calls are activities, timers and child workflows;
tests supply a simulated one. So the logic is tested without Temporal and the
workflow stays a thin, deterministic shell.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.classification.tags import Classification
from engine.errors import TemplateError
from engine.plan.addresses import child_run_id
from engine.plan.approvals import ApprovalDesk
from engine.plan.audit import AuditChain
from engine.plan.executor import ActionCall, ActionOutcome, ApprovalMock, Executor, StepFailure
from engine.plan.models import Plan, PlanStep, StepKind
from engine.plan.state import Attempt, Decision, RunState, RunStatus, StepRecord, StepStatus
from engine.plan.views import action_steps, not_run_views, parse_timestamp, step_view
from engine.spec.models import OnError
from engine.templating import TemplateEngine

MAX_LOOP_ITEMS = 1000
__all__ = [
    "ActionCall",
    "ActionOutcome",
    "ApprovalMock",
    "Conductor",
    "Executor",
    "StepFailure",
    "step_view",
]


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
        self.path_prefix = path_prefix
        self.audit = AuditChain(state.run_id, plan.name, plan.version, plan.sha256)
        self.approvals = ApprovalDesk(
            state, executor, self.audit, playbook=plan.name, path_prefix=path_prefix, mocks=approval_mocks
        )
        self.run_view = {
            "id": state.run_id,
            "workflow_id": state.run_id,
            "playbook": plan.name,
            "version": plan.version,
            "sha256": plan.sha256,
            "started_at": state.started_at.isoformat().replace("+00:00", "Z"),
        }
        self.base_context = {"alert": dict(alert), "inputs": dict(inputs), "run": self.run_view}
        state.classification = Classification.for_run(plan.classification, alert)
        self.action_steps = action_steps(plan.steps + plan.on_failure)

    # -- running ----------------------------------------------------------------------------------------
    async def run(self) -> RunState:
        """Run every step, then ``outputs`` or ``on_failure``; returns the final state."""
        # Steps that never run (skipped blocks, a failure earlier) still answer `steps.<id>` in
        # outputs and on_failure, as "not_run" with no output, instead of an undefined-name error.
        frame = _Frame(steps=not_run_views(self.plan.steps + self.plan.on_failure))
        started: dict[str, Any] = {"alert": self.state.alert_id, "title": self.state.alert_title[:200]}
        if not self.state.classification.empty:
            # The review groups by these; runs without any keep the event they always had.
            started["classification"] = self.state.classification.for_audit()
        self.audit.append(self.state.started_at, "run.started", detail=started)
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
            self.audit.append(self.state.finished_at, "run.finished", outcome=self.state.status.value)
            await self._store_audit()
            raise
        await self.executor.drain()
        self.state.finished_at = self.executor.now()
        self.audit.append(
            self.state.finished_at,
            "run.finished",
            outcome=self.state.status.value,
            detail=self.state.failure or {},
        )
        await self._store_audit()
        return self.state

    async def _store_audit(self) -> None:
        if not self.audit.enabled:
            return
        pending = list(self.audit.pending)
        if pending and await self.executor.store_audit(pending):
            self.audit.stored(pending)

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
        self.audit.append(
            record.started_at, "step.started", step=record.path, detail={"kind": step.kind.value}
        )
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
        self.audit.append(
            record.finished_at,
            "step.finished",
            step=record.path,
            outcome=record.status.value,
            detail={"attempts": len(record.attempts), "error": (record.error or "")[:500]},
        )
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
        # An approver's edits (checked against the action's schema when they were made) win.
        record.edited_args = self.approvals.edits_for(record.path)
        args = {**self._render(step.args, frame), **record.edited_args}
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
                audit=list(self.audit.pending),
            )
            try:
                outcome = await self.executor.run_action(call)
            except StepFailure as failure:
                attempt.finished_at = self.executor.now()
                attempt.error_type, attempt.error = failure.type, str(failure)
                if not failure.retryable or number == step.retry.attempts:
                    self._fail(record, failure.type, str(failure))
                    return
                await self.executor.sleep(step.retry.delay_before(number + 1))
                continue
            attempt.finished_at = self.executor.now()
            record.output = outcome.output
            record.status = StepStatus.SUCCEEDED
            if outcome.audit_stored:
                self.audit.stored(call.audit)
            elif outcome.audit_stored_seqs:
                acknowledged = set(outcome.audit_stored_seqs)
                self.audit.stored([e for e in call.audit if e.seq in acknowledged])
            if not outcome.audit_enabled:
                self.audit.disable()  # the worker has nowhere to keep a trail: stop carrying it
            return

    async def _approval(self, step: PlanStep, record: StepRecord, frame: _Frame) -> None:
        spec = step.approval
        assert spec is not None
        title = str(self._render(spec.title, frame))
        details = str(self._render(spec.details, frame))
        done = [sid for sid, view in frame.steps.items() if view.get("status") == "succeeded"]
        deadline = None
        if spec.deadline is not None:
            deadline = parse_timestamp(self._render(spec.deadline, frame), "approval deadline")
        guards = f"{record.path[: -len(step.id)]}{spec.guards}" if spec.guards else None
        editable = {name: self._current_arg(spec.guards, name, frame) for name in spec.editable}
        await self.approvals.run(
            spec, record, title, details, done, deadline, guards=guards, editable=editable
        )

    def _current_arg(self, step_id: str | None, name: str, frame: _Frame) -> Any:
        """The guarded step's argument ``name`` as it would render now (None when it cannot yet)."""
        guarded = self.action_steps.get(step_id or "")
        try:
            return self._render(guarded.args.get(name), frame) if guarded else None
        except TemplateError:
            return None

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
            target = parse_timestamp(self._render(step.wait_until, frame), "wait until")
            seconds = (target - self.executor.now()).total_seconds()
        if seconds > 0:
            await self.executor.sleep(seconds)
        record.output = {"waited_s": max(seconds, 0)}
        record.status = StepStatus.SUCCEEDED

    async def _child(self, step: PlanStep, record: StepRecord, frame: _Frame) -> None:
        args = self._render(step.args, frame)
        await self._store_audit()  # a child (e.g. the review) may read this run's trail
        qualified = f"{self.path_prefix}{record.path}"
        # Known from the start, so a decision on the child's steps can be routed while it runs.
        record.child_run = child_run_id(self.state.run_id, qualified)
        try:
            child_id, outputs = await self.executor.run_child(qualified, step.playbook or "", args)
        except StepFailure as failure:
            if failure.type != "ChildFailed":  # refused before a child started
                record.child_run = None
            self._fail(record, failure.type, str(failure))
            return
        record.child_run = child_id
        record.output = outputs
        record.status = StepStatus.SUCCEEDED

    # -- decisions and audit -----------------------------------------------------------------------------
    def check_decision(
        self,
        path: str,
        by: str,
        groups: list[str],
        decision: Decision,
        reason: str,
        edits: Mapping[str, Any] | None = None,
    ) -> StepRecord:
        """Raise :class:`ApprovalRefused` unless ``by`` may decide the pending approval at ``path`` now."""
        return self.approvals.check(path, by, groups, decision, reason, edits)

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
        """Validate and apply a human decision (with the approver's edits of the guarded step)."""
        return self.approvals.decide(path, by, groups, decision, reason, via, edits)

    def record_event(self, action: str, **fields: Any) -> None:
        """Add an event to the run's audit chain (e.g. an alert that joined the run)."""
        self.audit.append(self.executor.now(), action, **fields)

    # -- templates ----------------------------------------------------------------------------------------
    def _context(self, frame: _Frame) -> dict[str, Any]:
        return {**self.base_context, "steps": frame.steps, **frame.variables}

    def _render(self, value: Any, frame: _Frame) -> Any:
        return self.engine.render(value, self._context(frame))
