"""Re-run a run from one of its steps: a Temporal reset to just before the step began, then a note.

Temporal replays the run's history up to the workflow task that started the step and lets the run
go on from there with the current engine code, so the step and everything after it run again while
what came before (evidence gathered, approvals given) stands. The replaced run stays in Temporal's
history and its audit events stay in Elasticsearch: the trail forks there, and the new branch names
who reset it and why (:data:`~engine.workflows.types.RESET_SIGNAL`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from engine.client import status
from engine.errors import ResetRefused, RunNotFound
from engine.plan.addresses import child_run_id
from engine.plan.notices import ApprovalNotice
from engine.plan.state import RunReset, RunState, StepStatus
from engine.workflows.types import ACTIVITY_NAME, NOTIFY_ACTIVITY, RESET_SIGNAL, ActionRequest


class ResetOutcome(BaseModel):
    """What a reset did."""

    run_id: str
    step: str
    from_run: str
    to_run: str
    reset_event_id: int
    note: RunReset


def failed_step(state: RunState) -> str:
    """The step a failed run failed at; refuses when the run did not fail at a step."""
    failure = state.failure or {}
    step = failure.get("step", "")
    if not step or step == "outputs" or state.step(step) is None:
        raise ResetRefused(
            f"run {state.run_id} has no failed step to re-run from (status {state.status.value})"
        )
    return step


async def reset_run(
    client: Client,
    run_id: str,
    step: str | None,
    *,
    by: str,
    reason: str,
    via: str = "cli",
) -> ResetOutcome:
    """Re-run ``run_id`` from ``step`` (default: the step it failed at), recording who and why.

    Decisions taken before the step stand; approvals that come after it are asked again.
    """
    if not reason.strip():
        raise ResetRefused("a reset needs a reason: it is written to the run's audit trail")
    state = await status(client, run_id)
    step = step or failed_step(state)
    record = state.step(step)
    if record is None:
        inner = next((s.path for s in state.steps if step.startswith(f"{s.path}.")), None)
        if inner is not None:
            raise ResetRefused(
                f"{step!r} is inside the child run of step {inner!r}: reset the parent to {inner!r}"
            )
        raise ResetRefused(f"run {run_id} has no step {step!r}")
    if record.status is StepStatus.SKIPPED:
        raise ResetRefused(f"step {step!r} of run {run_id} was skipped: it never started")
    handle = client.get_workflow_handle(run_id)
    description = await handle.describe()
    if state.continuations and record.started_at < description.start_time:
        # Temporal resets within one history; what came before a continue-as-new is in an earlier one.
        raise ResetRefused(
            f"step {step!r} of run {run_id} started before the run last continued as new "
            f"({description.start_time:%Y-%m-%d %H:%M} UTC): only steps started since can be re-run"
        )
    history = await handle.fetch_history()
    event_id = await _task_before(client, run_id, step, list(history.events))
    request = ResetWorkflowExecutionRequest(
        namespace=client.namespace,
        workflow_execution=WorkflowExecution(workflow_id=run_id, run_id=description.run_id),
        reason=f"fireline reset to {step} by {by}: {reason}"[:1000],
        workflow_task_finish_event_id=event_id,
        request_id=str(uuid.uuid4()),
        # Signals and decisions after the reset point are reapplied: a decision accepted in the same
        # workflow task that started the step stands; one on an approval not pending yet is refused.
    )
    try:
        answer = await client.workflow_service.reset_workflow_execution(request)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise RunNotFound(f"no run {run_id!r}") from None
        raise ResetRefused(f"Temporal refused the reset of {run_id}: {exc.message}") from None
    note = RunReset(
        id=request.request_id,
        step=step,
        by=by,
        reason=reason,
        via=via,
        at=datetime.now(UTC),
        from_run=description.run_id,
        to_run=answer.run_id,
        previous_failure=state.failure,
    )
    await client.get_workflow_handle(run_id, run_id=answer.run_id).signal(RESET_SIGNAL, note)
    return ResetOutcome(
        run_id=run_id,
        step=step,
        from_run=description.run_id,
        to_run=answer.run_id,
        reset_event_id=event_id,
        note=note,
    )


async def _task_before(client: Client, run_id: str, step: str, events: list[HistoryEvent]) -> int:
    """The WorkflowTaskCompleted event whose commands first started ``step``."""
    converter = client.data_converter
    child_id = child_run_id(run_id, step)
    for event in events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            name = scheduled.activity_type.name
            if name == ACTIVITY_NAME:
                [action] = await converter.decode(scheduled.input.payloads, [ActionRequest])
                if action.path == step:
                    return int(scheduled.workflow_task_completed_event_id)
            elif name == NOTIFY_ACTIVITY:
                [notice] = await converter.decode(scheduled.input.payloads, [ApprovalNotice])
                if notice.step == step:
                    return int(scheduled.workflow_task_completed_event_id)
        elif event.HasField("start_child_workflow_execution_initiated_event_attributes"):
            child = event.start_child_workflow_execution_initiated_event_attributes
            if child.workflow_id == child_id:
                return int(child.workflow_task_completed_event_id)
    raise ResetRefused(
        f"step {step!r} of run {run_id} started no action, approval notice or child run "
        "that a reset could return to"
    )
