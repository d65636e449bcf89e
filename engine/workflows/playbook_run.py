"""``PlaybookRun``: the one generic workflow that executes any plan.

The workflow is a thin shell around the pure :class:`~engine.plan.conductor.Conductor`:
activities, timers, conditions and child workflows are its executor.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from engine.errors import FirelineError
    from engine.plan.addresses import child_run_id
    from engine.plan.audit import AuditEvent
    from engine.plan.conductor import ActionCall, ActionOutcome, ApprovalMock, Conductor, StepFailure
    from engine.plan.inputs import resolve_inputs
    from engine.plan.notices import ApprovalNotice, MessageRef, NoticeKind
    from engine.plan.shared import shared_plan
    from engine.plan.state import JoinedAlert, RunReset, RunState, StepRecord
    from engine.templating import TemplateEngine
    from engine.workflows.types import (
        ACTIVITY_NAME,
        AUDIT_ACTIVITY,
        AUDIT_LOCAL_PATCH,
        AUDIT_PATCH,
        BACKGROUND_NOTICES_PATCH,
        DECIDE_UPDATE,
        DECIDED_NEEDS_MESSAGE_PATCH,
        JOIN_MANY_SIGNAL,
        JOIN_SIGNAL,
        LEAN_MEMO_PATCH,
        NOTICES_PATCH,
        NOTIFY_ACTIVITY,
        RESET_NOTE_PATCH,
        RESET_NOTE_WAIT_S,
        RESET_SIGNAL,
        STATUS_QUERY,
        WORKFLOW_NAME,
        ActionRequest,
        ActionResult,
        DecisionRequest,
        RunInput,
    )

_ENGINE = TemplateEngine()


class _TemporalExecutor:
    """Executor whose operations are Temporal commands."""

    def __init__(self, run_input: RunInput, run_id: str) -> None:
        self.input = run_input
        self.run_id = run_id
        self.background: list[asyncio.Future[list[MessageRef]]] = []
        #: True while this run replaced a reset one and ``fireline reset`` has not said who did it.
        self.reset_note_missing: Callable[[], bool] = lambda: False

    def now(self) -> datetime:
        return workflow.now()

    async def run_action(self, call: ActionCall) -> Any:
        request = ActionRequest(
            action=call.action,
            args=call.args,
            path=call.path,
            idempotency_key=call.idempotency_key,
            attempt=call.attempt,
            run_id=self.run_id,
            playbook=self.input.plan.name,
            audit=call.audit,
        )
        try:
            result = await workflow.execute_activity(
                ACTIVITY_NAME,
                request,
                # An integration with its own queue runs on the workers that serve it.
                task_queue=self.input.action_queues.get(call.action.split(".")[0]),
                result_type=ActionResult,
                start_to_close_timeout=timedelta(seconds=call.timeout_s),
                # The conductor retries, so every attempt and its error lands on the timeline.
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as err:
            raise _as_failure(err) from None
        return ActionOutcome(
            result.output,
            audit_stored=result.audit_stored,
            audit_enabled=result.audit_enabled,
            audit_stored_seqs=tuple(result.audit_stored_seqs),
        )

    async def store_audit(self, events: list[AuditEvent]) -> bool:
        if not workflow.patched(AUDIT_PATCH):
            return False
        retry = RetryPolicy(maximum_attempts=5, initial_interval=timedelta(seconds=1))
        try:
            if workflow.patched(AUDIT_LOCAL_PATCH):
                # Same write, same acknowledgement (only after Elasticsearch answered), in this worker.
                stored: bool = await workflow.execute_local_activity(
                    AUDIT_ACTIVITY,
                    events,
                    result_type=bool,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=retry,
                )
            else:
                stored = await workflow.execute_activity(
                    AUDIT_ACTIVITY,
                    events,
                    result_type=bool,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=retry,
                )
        except ActivityError as err:
            workflow.logger.warning(
                "audit events %d..%d not stored: %s", events[0].seq, events[-1].seq, err.cause
            )
            return False
        return stored

    async def notify(self, notice: ApprovalNotice) -> list[MessageRef]:
        if not workflow.patched(NOTICES_PATCH):
            return []
        try:
            refs: list[MessageRef] = await workflow.execute_activity(
                NOTIFY_ACTIVITY,
                notice,
                result_type=list[MessageRef],
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1)),
            )
        except ActivityError as err:
            workflow.logger.warning("approval notice for %s was not delivered: %s", notice.step, err.cause)
            return []
        return refs

    async def notify_later(self, notice: ApprovalNotice) -> None:
        if (
            notice.kind is NoticeKind.DECIDED
            and not notice.messages
            and workflow.patched(DECIDED_NEEDS_MESSAGE_PATCH)
        ):
            return  # no notifier posted the request: there is no message to update, and no round trip
        if not workflow.patched(BACKGROUND_NOTICES_PATCH):
            await self.notify(notice)
            return
        # Reminders and "decided" updates must not hold up the run; they are awaited at its end.
        self.background.append(asyncio.ensure_future(self.notify(notice)))

    async def drain(self) -> None:
        if self.background:
            await asyncio.gather(*self.background)
            self.background.clear()
        if self.reset_note_missing() and workflow.patched(RESET_NOTE_PATCH):
            # The note follows the reset within moments; without it the trail could not say who reset.
            await self.wait_until(lambda: not self.reset_note_missing(), RESET_NOTE_WAIT_S)

    async def sleep(self, seconds: float) -> None:
        await workflow.sleep(seconds)

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        if predicate():
            return True
        if timeout_s <= 0:
            return False
        try:
            await workflow.wait_condition(predicate, timeout=timeout_s)
        except builtins.TimeoutError:
            return predicate()
        return True

    async def run_child(self, path: str, playbook: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        plan = self.input.plan.subplans.get(playbook)
        if plan is None:
            raise StepFailure(
                f"playbook {playbook!r} was not compiled into this plan", type="NotFound", retryable=False
            )
        try:
            resolved = resolve_inputs(plan, self.input.alert, inputs, _ENGINE)
        except FirelineError as exc:
            raise StepFailure(str(exc), type="InvalidInputs", retryable=False) from None
        child_plan = plan.model_copy(update={"subplans": self.input.plan.subplans})
        child_id = child_run_id(workflow.info().workflow_id, path)
        try:
            state = await workflow.execute_child_workflow(
                WORKFLOW_NAME,
                RunInput(
                    plan=child_plan,
                    alert=self.input.alert,
                    inputs=resolved,
                    path_prefix=f"{path}.",
                    rehearsal_approvals=self.input.rehearsal_approvals,
                    action_queues=self.input.action_queues,
                ),
                id=child_id,
                result_type=RunState,
            )
        except ChildWorkflowError as err:
            raise StepFailure(
                f"child run failed: {err.cause or err}", type="ChildFailed", retryable=False
            ) from None
        if state.status.value != "succeeded":
            message = (state.failure or {}).get("message", state.status.value)
            raise StepFailure(
                f"{playbook} {state.status.value}: {message}", type="ChildFailed", retryable=False
            )
        return child_id, state.outputs


def _as_failure(err: ActivityError) -> StepFailure:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return StepFailure(cause.message, type=cause.type or "Error", retryable=not cause.non_retryable)
    if isinstance(cause, TimeoutError):
        return StepFailure(f"timed out ({cause.type.name if cause.type else 'timeout'})", type="Timeout")
    return StepFailure(str(cause or err), type=type(cause).__name__ if cause else "ActivityError")


@workflow.defn(name=WORKFLOW_NAME)
class PlaybookRun:
    """Runs one plan against one alert; answers ``status`` and takes ``decide`` updates."""

    @workflow.init
    def __init__(self, run_input: RunInput) -> None:
        info = workflow.info()
        # Equal content, one copy per worker: parked runs of a playbook share their plan.
        run_input.plan = shared_plan(run_input.plan)
        alert = run_input.alert
        self.state = RunState(
            run_id=info.workflow_id,
            playbook=run_input.plan.name,
            version=run_input.plan.version,
            sha256=run_input.plan.sha256,
            started_at=workflow.now(),
            alert_id=str(alert.get("id", "")),
            alert_title=str(alert.get("title", "")),
            severity=str(alert.get("severity", "")),
        )
        mocks = {
            path: ApprovalMock(
                decision=s.decision, by=s.by, after_s=s.after_s, reason=s.reason, edits=s.edits
            )
            for path, s in run_input.rehearsal_approvals.items()
        }
        executor = _TemporalExecutor(run_input, info.workflow_id)
        executor.reset_note_missing = self._reset_note_missing
        self.conductor = Conductor(
            run_input.plan,
            self.state,
            alert=alert,
            inputs=run_input.inputs,
            executor=executor,
            engine=_ENGINE,
            approval_mocks=mocks,
            path_prefix=run_input.path_prefix,
        )

    @workflow.run
    async def run(self, run_input: RunInput) -> RunState:
        self.lean_memo = workflow.patched(LEAN_MEMO_PATCH)
        if not self.lean_memo:
            self._publish()
        try:
            await self.conductor.run()
        except asyncio.CancelledError:
            self._publish()
            raise
        # Not in a `finally`: on cache eviction the coroutine is closed outside the workflow loop.
        self._publish()
        return self.state

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
