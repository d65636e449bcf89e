"""``PlaybookRun``: the one generic workflow that executes any plan.

The workflow is a thin shell around the pure :class:`~engine.plan.conductor.Conductor`:
activities, timers, conditions and child workflows are its executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from engine.errors import FirelineError
    from engine.plan.addresses import route
    from engine.plan.conductor import ApprovalMock, Conductor
    from engine.plan.packed import pack_json
    from engine.plan.shared import shared_plan
    from engine.plan.state import JoinedAlert, RunReset, RunState, StepRecord
    from engine.workflows.audit_outbox import AUDIT_EXTERN, drop
    from engine.workflows.types import (
        AUDIT_OUTBOX_PATCH,
        CONTINUE_AS_NEW_PATCH,
        DECIDE_UPDATE,
        DECISION_ELSEWHERE,
        JOIN_MANY_SIGNAL,
        JOIN_SIGNAL,
        LEAN_MEMO_PATCH,
        PENDING_QUERY,
        RESET_SIGNAL,
        STATUS_QUERY,
        WORKFLOW_NAME,
        DecisionRequest,
        RunInput,
    )

# Workflow code itself: imported inside the sandbox, so its restrictions apply to it.
from engine.workflows.temporal_executor import TEMPLATES, TemporalExecutor


@workflow.defn(name=WORKFLOW_NAME)
class PlaybookRun:
    """Runs one plan against one alert; answers ``status`` and takes ``decide`` updates."""

    @workflow.init
    def __init__(self, run_input: RunInput) -> None:
        info = workflow.info()
        # Equal content, one copy per worker: parked runs of a playbook share their plan.
        run_input.plan = shared_plan(run_input.plan)
        alert = run_input.alert
        checkpoint, run_input.resume = run_input.resume, None  # held once, in the state below
        self.resumed = checkpoint is not None
        for record in checkpoint.state.steps if checkpoint else []:
            record.output = pack_json(record.output)  # read back from history: plain JSON
        self.state = (
            checkpoint.state
            if checkpoint
            else RunState(
                run_id=info.workflow_id,
                playbook=run_input.plan.name,
                version=run_input.plan.version,
                sha256=run_input.plan.sha256,
                started_at=workflow.now(),
                alert_id=str(alert.get("id", "")),
                alert_title=str(alert.get("title", "")),
                severity=str(alert.get("severity", "")),
            )
        )
        mocks = {
            path: ApprovalMock(
                decision=s.decision, by=s.by, after_s=s.after_s, reason=s.reason, edits=s.edits
            )
            for path, s in run_input.rehearsal_approvals.items()
        }
        self.executor = executor = TemporalExecutor(run_input, info.workflow_id)
        executor.reset_note_missing = self._reset_note_missing
        self.conductor = Conductor(
            run_input.plan,
            self.state,
            alert=alert,
            inputs=run_input.inputs,
            executor=executor,
            engine=TEMPLATES,
            approval_mocks=mocks,
            path_prefix=run_input.path_prefix,
            resume_from=checkpoint.audit if checkpoint else None,
        )

    @workflow.run
    async def run(self, run_input: RunInput) -> RunState:
        self.lean_memo = self.executor.patches.applies(LEAN_MEMO_PATCH)
        if self.executor.patches.applies(AUDIT_OUTBOX_PATCH):
            # The worker stores the trail from outside (engine.activities.audit_relay): no event
            # rides along with an action, and the run's end needs no store activity.
            put = workflow.extern_functions().get(AUDIT_EXTERN)
            sink = functools.partial(put, workflow.info().run_id) if put is not None else drop
            self.conductor.audit.relay_to(sink)
        if not self.lean_memo:
            self._publish()
        if not self.executor.patches.applies(CONTINUE_AS_NEW_PATCH):
            try:
                await self.conductor.run()
            except asyncio.CancelledError:
                self._publish()
                raise
            # Not in a `finally`: on cache eviction the coroutine is closed outside the workflow loop.
            self._publish()
            return self.state
        if self.resumed:
            info = workflow.info()
            self.state.continuations += 1
            self.conductor.record_event(
                "run.continued",
                detail={"from_run": info.continued_run_id or "", "n": self.state.continuations},
            )
        conducting = asyncio.ensure_future(self.conductor.run())
        try:
            while not conducting.done():
                await workflow.wait_condition(lambda: conducting.done() or self._time_to_continue())
                # Checked again with nothing in between: continue_as_new ends this run at once.
                if not conducting.done() and self._time_to_continue():
                    self._continue_as_new(run_input)
        except asyncio.CancelledError:
            conducting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await conducting
            self._publish()
            raise
        conducting.result()
        self._publish()
        return self.state

    def _time_to_continue(self) -> bool:
        """Continue as new once the history is long, and only while everything is parked."""
        info = workflow.info()
        if (
            info.get_current_history_length() < self.executor.input.continue_after_events
            and not info.is_continue_as_new_suggested()
        ):
            return False
        return self.executor.idle() and self.conductor.resumable() and workflow.all_handlers_finished()

    def _continue_as_new(self, run_input: RunInput) -> None:
        """The same run, a fresh history: it picks up from here on the current engine code."""
        workflow.logger.info(
            "run %s continues as new after %d events",
            self.state.run_id,
            workflow.info().get_current_history_length(),
        )
        workflow.continue_as_new(
            RunInput(
                plan=run_input.plan,
                alert=run_input.alert,
                inputs=run_input.inputs,
                path_prefix=run_input.path_prefix,
                rehearsal_approvals=run_input.rehearsal_approvals,
                action_queues=run_input.action_queues,
                continue_after_events=run_input.continue_after_events,
                resume=self.conductor.checkpoint(),
            ),
            memo=dict(workflow.memo()) | {"status": self.state.status.value},
        )

    def _publish(self) -> None:
        if getattr(self, "lean_memo", False):
            # The client wrote playbook, title and severity at start; only the status changes.
            workflow.upsert_memo({"status": self.state.status.value})
            return
        workflow.upsert_memo(
            {
                "playbook": self.state.playbook,
                "status": self.state.status.value,
                "title": self.state.alert_title[:200],
                "severity": self.state.severity,
            }
        )

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> RunState:
        """The live timeline."""
        return self.state

    @workflow.query(name=PENDING_QUERY)
    def pending_approvals(self) -> list[StepRecord]:
        """The approvals of this run still waiting for a decision (a child's are in its own run)."""
        return self.state.pending_approvals()

    @workflow.update(name=DECIDE_UPDATE)
    def decide(self, request: DecisionRequest) -> StepRecord:
        """Decide a pending approval; the validator refuses anything else before it reaches history.

        Validator and handler run with no await between them, so of two decisions arriving together
        the first is applied before the second is validated: the second is refused, naming the first.
        """
        try:
            return self.conductor.decide(
                request.step,
                request.by,
                request.groups,
                request.decision,
                request.reason,
                request.via,
                request.edits,
            )
        except FirelineError as exc:  # only when the validator was skipped (replay of an accepted update)
            raise ApplicationError(str(exc), type="ApprovalRefused", non_retryable=True) from None

    @decide.validator
    def _validate_decide(self, request: DecisionRequest) -> None:
        hop = route(self.state, request.step)
        if hop is not None:  # a step of a child run this run started: refused here, sent on there
            child, path = hop
            raise ApplicationError(
                f"{request.step} is decided in child run {child}",
                child,
                path,
                type=DECISION_ELSEWHERE,
                non_retryable=True,
            )
        try:
            self.conductor.check_decision(
                request.step, request.by, request.groups, request.decision, request.reason, request.edits
            )
        except FirelineError as exc:
            raise ApplicationError(str(exc), type="ApprovalRefused", non_retryable=True) from None

    @workflow.signal(name=JOIN_SIGNAL)
    def alert_joined(self, alert: JoinedAlert) -> None:
        """Record a repeat of the incident that joined this run."""
        if alert.id != self.state.alert_id and all(a.id != alert.id for a in self.state.joined_alerts):
            self.state.joined_alerts.append(alert)
            self.conductor.record_event("alert.joined", detail={"alert": alert.id, "title": alert.title})

    @workflow.signal(name=JOIN_MANY_SIGNAL)
    def alerts_joined(self, alerts: list[JoinedAlert]) -> None:
        """Record several repeats at once, in order."""
        for alert in alerts:
            self.alert_joined(alert)

    @workflow.signal(name=RESET_SIGNAL)
    def run_reset(self, note: RunReset) -> None:
        """Record who re-ran this run from a step, and why (sent right after the reset)."""
        if any(r.id == note.id for r in self.state.resets):
            return  # a reset reapplies earlier signals: each note counts once
        self.state.resets.append(note)
        self.conductor.record_event(
            "run.reset",
            step=note.step,
            actor=note.by,
            detail={
                "reason": note.reason,
                "via": note.via,
                "from_run": note.from_run,
                "to_run": note.to_run,
                "previous_failure": note.previous_failure or {},
            },
        )

    def _reset_note_missing(self) -> bool:
        info = workflow.info()
        # A reset run has a new run id but keeps the first run's id; continue-as-new sets continued_run_id.
        if info.run_id == info.first_execution_run_id or info.continued_run_id is not None:
            return False
        return all(r.to_run != info.run_id for r in self.state.resets)
