"""The executor of :class:`~engine.workflows.playbook_run.PlaybookRun`: its operations are Temporal
commands (activities, timers, conditions, child workflows)."""

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
    from engine.plan.conductor import ActionCall, ActionOutcome, StepFailure
    from engine.plan.inputs import resolve_inputs
    from engine.plan.notices import ApprovalNotice, MessageRef, NoticeKind
    from engine.plan.packed import pack_json
    from engine.plan.state import RunState
    from engine.templating import TemplateEngine
    from engine.workflows.patches import Patches
    from engine.workflows.types import (
        ACTIVITY_NAME,
        AUDIT_ACTIVITY,
        AUDIT_LOCAL_PATCH,
        AUDIT_PATCH,
        BACKGROUND_NOTICES_PATCH,
        DECIDED_NEEDS_MESSAGE_PATCH,
        NOTICES_PATCH,
        NOTIFY_ACTIVITY,
        RESET_NOTE_PATCH,
        RESET_NOTE_WAIT_S,
        WORKFLOW_NAME,
        ActionRequest,
        ActionResult,
        RunInput,
    )

#: One template engine per worker: rendering is pure, so runs share it.
TEMPLATES = TemplateEngine()


class TemporalExecutor:
    """Executor whose operations are Temporal commands."""

    def __init__(self, run_input: RunInput, run_id: str) -> None:
        self.input = run_input
        self.run_id = run_id
        self.background: list[asyncio.Future[list[MessageRef]]] = []
        #: True while this run replaced a reset one and ``fireline reset`` has not said who did it.
        self.reset_note_missing: Callable[[], bool] = lambda: False
        #: Activities and child runs awaited right now; the run only continues as new at zero.
        self.busy = 0
        self.patches = Patches()

    def idle(self) -> bool:
        """True when nothing this executor started is still in flight."""
        return self.busy == 0 and all(f.done() for f in self.background)

    def now(self) -> datetime:
        return workflow.now()

    async def run_action(self, call: ActionCall) -> Any:
        self.busy += 1
        try:
            return await self._run_action(call)
        finally:
            self.busy -= 1

    async def _run_action(self, call: ActionCall) -> Any:
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
            pack_json(result.output),  # decoded from the activity's JSON, so packing loses nothing
            audit_stored=result.audit_stored,
            audit_enabled=result.audit_enabled,
            audit_stored_seqs=tuple(result.audit_stored_seqs),
        )

    async def store_audit(self, events: list[AuditEvent]) -> bool:
        if not self.patches.applies(AUDIT_PATCH):
            return False
        self.busy += 1
        try:
            return await self._store_audit(events)
        finally:
            self.busy -= 1

    async def _store_audit(self, events: list[AuditEvent]) -> bool:
        retry = RetryPolicy(maximum_attempts=5, initial_interval=timedelta(seconds=1))
        try:
            if self.patches.applies(AUDIT_LOCAL_PATCH):
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
        if not self.patches.applies(NOTICES_PATCH):
            return []
        self.busy += 1
        try:
            return await self._notify(notice)
        finally:
            self.busy -= 1

    async def _notify(self, notice: ApprovalNotice) -> list[MessageRef]:
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
            and self.patches.applies(DECIDED_NEEDS_MESSAGE_PATCH)
        ):
            return  # no notifier posted the request: there is no message to update, and no round trip
        if not self.patches.applies(BACKGROUND_NOTICES_PATCH):
            await self.notify(notice)
            return
        # Reminders and "decided" updates must not hold up the run; they are awaited at its end.
        self.background.append(asyncio.ensure_future(self.notify(notice)))

    async def drain(self) -> None:
        if self.background:
            await asyncio.gather(*self.background)
            self.background.clear()
        if self.reset_note_missing() and self.patches.applies(RESET_NOTE_PATCH):
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
        self.busy += 1
        try:
            return await self._run_child(path, playbook, inputs)
        finally:
            self.busy -= 1

    async def _run_child(
        self, path: str, playbook: str, inputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        plan = self.input.plan.subplans.get(playbook)
        if plan is None:
            raise StepFailure(
                f"playbook {playbook!r} was not compiled into this plan", type="NotFound", retryable=False
            )
        try:
            resolved = resolve_inputs(plan, self.input.alert, inputs, TEMPLATES)
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
                    continue_after_events=self.input.continue_after_events,
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
