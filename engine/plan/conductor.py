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
from typing import Any

from engine.classification.tags import Classification
from engine.errors import TemplateError
from engine.plan.addresses import child_run_id
from engine.plan.approvals import ApprovalDesk
from engine.plan.audit import AuditChain
from engine.plan.checkpoint import AuditCursor, RunCheckpoint, parked, take_checkpoint, waiting_specs
from engine.plan.executor import ActionCall, ActionOutcome, ApprovalMock, Executor, StepFailure
from engine.plan.frame import BlockFailed, Frame
from engine.plan.models import Plan, PlanStep, StepKind
from engine.plan.packed import composed_dict, composed_list
from engine.plan.state import Attempt, Decision, RunState, RunStatus, StepRecord, StepStatus
from engine.plan.views import StepViews, action_steps, not_run_views, parse_timestamp, run_view, step_view
from engine.spec.models import OnError
from engine.templating import TemplateEngine

MAX_LOOP_ITEMS = 1000
__all__ = ["ActionCall", "ActionOutcome", "ApprovalMock", "Conductor", "Executor", "StepFailure", "step_view"]


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
        resume_from: AuditCursor | None = None,
    ) -> None:
        """``resume_from``: ``state`` comes from a checkpoint and this is where its chain stood."""
        self.plan = plan
        self.state = state
        self.executor = executor
        self.engine = engine
        self.path_prefix = path_prefix
        self.audit = AuditChain(state.run_id, plan.name, plan.version, plan.sha256)
        self.approvals = ApprovalDesk(
            state, executor, self.audit, playbook=plan.name, path_prefix=path_prefix, mocks=approval_mocks
        )
        self.run_view = run_view(plan, state)
        self.base_context = {"alert": dict(alert), "inputs": dict(inputs), "run": self.run_view}
        state.classification = Classification.for_run(plan.classification, alert)
        self.action_steps = action_steps(plan.steps + plan.on_failure)
        #: Records a checkpoint brought along, by path, until the walk through the plan reaches them.
        self.resumed: dict[str, StepRecord] = {}
        self.closing = False
        if resume_from is not None:
            cursor = resume_from
            self.audit.restore(cursor.seq, cursor.last_hash, cursor.pending, cursor.enabled)
            self.resumed = {record.path: record for record in state.steps}
            # Decisions may arrive before the walk through the plan reaches their approval.
            self.approvals.specs.update(waiting_specs(plan, state))

    # -- running ----------------------------------------------------------------------------------------
    async def run(self) -> RunState:
        """Run every step, then ``outputs`` or ``on_failure``; returns the final state."""
        # Steps that never run (skipped blocks, a failure earlier) still answer `steps.<id>` in
        # outputs and on_failure, as "not_run" with no output, instead of an undefined-name error.
        frame = Frame(steps=not_run_views(self.plan.steps + self.plan.on_failure))
        if not self.resumed:
            started: dict[str, Any] = {"alert": self.state.alert_id, "title": self.state.alert_title[:200]}
            if not self.state.classification.empty:
                # The review groups by these; runs without any keep the event they always had.
                started["classification"] = self.state.classification.for_audit()
            self.audit.append(self.state.started_at, "run.started", detail=started)
        try:
            await self._run_block(self.plan.steps, frame, "")
            self.state.outputs = self._render(self.plan.outputs, frame) if self.plan.outputs else {}
            self.state.status = RunStatus.SUCCEEDED
        except BlockFailed as failed:
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
        self.closing = True  # outputs and on_failure are done: nothing is parked any more
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

    async def _run_on_failure(self, frame: Frame) -> None:
        if not self.plan.on_failure:
            return
        frame.variables["failure"] = dict(self.state.failure or {})
        try:
            await self._run_block(self.plan.on_failure, frame, "on_failure.")
        except BlockFailed:
            return  # already on the timeline; the run is failed either way

    def _mark_cancelled(self) -> None:
        now = self.executor.now()
        for record in self.state.steps:
            if not record.status.finished:
                record.status = StepStatus.CANCELLED
                record.finished_at = now

    async def _run_block(self, steps: list[PlanStep], frame: Frame, prefix: str) -> None:
        for step in steps:
            record = await self._run_step(step, frame, prefix)
            if record.status is StepStatus.FAILED and step.on_error is OnError.FAIL:
                raise BlockFailed(record)

    async def _run_step(self, step: PlanStep, frame: Frame, prefix: str) -> StepRecord:
        record = self.resumed.pop(f"{prefix}{step.id}", None)
        # From the checkpoint, already under way: its condition held when it started.
        reentered = record is not None
        if record is not None:  # done steps stay done, waits go on
            # Not by status: a decision the new run took before reaching its approval sets that.
            if record.finished_at is not None:
                frame.steps[step.id] = step_view(record)
                return record
        else:
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
            if not reentered and step.condition is not None and not self._evaluate(step.condition, frame):
                record.status = StepStatus.SKIPPED
            else:
                await self._dispatch(step, record, frame)
        except TemplateError as exc:
            self._fail(record, "TemplateError", str(exc))
        except BlockFailed as inner:
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

    async def _dispatch(self, step: PlanStep, record: StepRecord, frame: Frame) -> None:
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
    async def _action(self, step: PlanStep, record: StepRecord, frame: Frame) -> None:
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

    async def _approval(self, step: PlanStep, record: StepRecord, frame: Frame) -> None:
        spec = step.approval
        assert spec is not None
        done = [sid for sid, view in frame.steps.items() if view.get("status") == "succeeded"]
        if record.approval is not None:  # asked before the run continued as new
            await self.approvals.resume(spec, record, done)
            return
        title = str(self._render(spec.title, frame))
        details = str(self._render(spec.details, frame))
        deadline = None
        if spec.deadline is not None:
            deadline = parse_timestamp(self._render(spec.deadline, frame), "approval deadline")
        guards = f"{record.path[: -len(step.id)]}{spec.guards}" if spec.guards else None
        editable = {name: self._current_arg(spec.guards, name, frame) for name in spec.editable}
        await self.approvals.run(
            spec, record, title, details, done, deadline, guards=guards, editable=editable
        )

    def _current_arg(self, step_id: str | None, name: str, frame: Frame) -> Any:
        """The guarded step's argument ``name`` as it would render now (None when it cannot yet)."""
        guarded = self.action_steps.get(step_id or "")
        try:
            return self._render(guarded.args.get(name), frame) if guarded else None
        except TemplateError:
            return None

    async def _for_each(self, step: PlanStep, record: StepRecord, frame: Frame) -> None:
        items = self._render(step.items, frame)
        if not isinstance(items, list):
            self._fail(record, "TypeError", f"for_each needs a list, got {type(items).__name__}")
            return
        if len(items) > MAX_LOOP_ITEMS:
            self._fail(record, "LimitExceeded", f"for_each has {len(items)} items (limit {MAX_LOOP_ITEMS})")
            return
        gate = asyncio.Semaphore(step.max_parallel)
        failures: list[BlockFailed] = []

        async def one(index: int, item: Any) -> Any:
            async with gate:
                if failures:
                    return None
                inner = frame.child(**{step.loop_var: item})
                try:
                    await self._run_block(step.children, inner, f"{record.path}[{index}].")
                except BlockFailed as failed:
                    failures.append(failed)
                return composed_dict(
                    {c.id: inner.steps[c.id]["output"] for c in step.children if c.id in inner.steps}
                )

        outputs = await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))
        record.output = composed_list(list(outputs))
        if failures:
            raise failures[0]
        record.status = StepStatus.SUCCEEDED

    async def _parallel(self, step: PlanStep, record: StepRecord, frame: Frame) -> None:
        prefix = f"{record.path}."
        results = await asyncio.gather(*(self._run_step(child, frame, prefix) for child in step.children))
        record.output = composed_dict(
            {child.id: result.output for child, result in zip(step.children, results, strict=True)}
        )
        for child, result in zip(step.children, results, strict=True):
            if result.status is StepStatus.FAILED and child.on_error is OnError.FAIL:
                raise BlockFailed(result)
        record.status = StepStatus.SUCCEEDED

    async def _wait(self, step: PlanStep, record: StepRecord, frame: Frame) -> None:
        if step.wait_s is not None:
            seconds = step.wait_s
        else:
            target = parse_timestamp(self._render(step.wait_until, frame), "wait until")
            seconds = (target - record.started_at).total_seconds()
        # Counted from the step's start: a wait resumed after continue-as-new only sleeps what is left.
        left_s = seconds - (self.executor.now() - record.started_at).total_seconds()
        if left_s > 0:
            await self.executor.sleep(left_s)
        record.output = {"waited_s": max(seconds, 0)}
        record.status = StepStatus.SUCCEEDED

    async def _child(self, step: PlanStep, record: StepRecord, frame: Frame) -> None:
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

    def resumable(self) -> bool:
        """True when the run may continue as new now: every unfinished step is parked."""
        return not self.closing and parked(self.state)

    def checkpoint(self) -> RunCheckpoint:
        """The run so far, for the next Temporal run (only when :meth:`resumable`)."""
        return take_checkpoint(self.state, self.audit)

    def record_event(self, action: str, **fields: Any) -> None:
        """Add an event to the run's audit chain (e.g. an alert that joined the run)."""
        self.audit.append(self.executor.now(), action, **fields)

    # -- templates ----------------------------------------------------------------------------------------
    def _context(self, frame: Frame) -> dict[str, Any]:
        return {**self.base_context, "steps": StepViews(frame.steps), **frame.variables}

    def _evaluate(self, condition: str, frame: Frame) -> bool:
        return bool(self.engine.evaluate(condition, self._context(frame)))

    def _render(self, value: Any, frame: Frame) -> Any:
        return self.engine.render(value, self._context(frame))
