"""The worker's counts: steps (activity attempts), runs and approval waits, from an interceptor.

They are recorded outside the workflow sandbox (through an extern function) and never during
replay, into :data:`engine.metrics.REGISTRY`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from temporalio import client, workflow
from temporalio.exceptions import FailureError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from engine.metrics import ApprovalOutcome, approval_decided, run_finished, run_started, step_finished
from engine.observability import bind_log_context
from engine.plan.state import RunState, RunStatus, StepRecord, StepStatus
from engine.workflows.types import DECIDE_UPDATE, ActionRequest, RunInput

_EXTERN = "__fireline_metrics"


def _record(kind: str, playbook: str, outcome: str, seconds: float = 0.0) -> None:
    """Called from inside the workflow sandbox (through an extern function), outside of it."""
    if kind == "run_started":
        run_started(playbook)
    elif kind == "run_finished":
        run_finished(playbook, RunStatus(outcome))
    elif kind == "approval":
        approval_decided(playbook, ApprovalOutcome(outcome), seconds)


class FirelineInterceptor(client.Interceptor, Interceptor):
    """Step, run and approval metrics, and run/step ids on activity log lines.

    Give it to ``Client.connect(interceptors=...)`` (every worker of that client then uses it) or
    to ``Worker(interceptors=...)``, not both: each copy would count.
    """

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        input.unsafe_extern_functions[_EXTERN] = _record
        return _WorkflowInbound


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        request = next((a for a in input.args if isinstance(a, ActionRequest)), None)
        if request is None:
            return await super().execute_activity(input)
        started = time.perf_counter()
        status = StepStatus.FAILED
        fields = {"run_id": request.run_id, "step_id": request.path, "playbook": request.playbook}
        try:
            with bind_log_context(**fields, action=request.action):
                result = await super().execute_activity(input)
            status = StepStatus.SUCCEEDED
            return result
        except asyncio.CancelledError:
            status = StepStatus.CANCELLED
            raise
        finally:
            step_finished(request.playbook, request.action, status, time.perf_counter() - started)


def _seconds(start: datetime, end: datetime | None) -> float:
    return (end - start).total_seconds() if end is not None else 0.0


class _WorkflowInbound(WorkflowInboundInterceptor):
    """Runs in the sandbox: reports through the extern function, and only when not replaying."""

    playbook = "unknown"

    def _report(self, kind: str, outcome: str, seconds: float = 0.0) -> None:
        if workflow.unsafe.is_replaying():
            return
        record: Callable[..., None] | None = workflow.extern_functions().get(_EXTERN)
        if record is not None:
            record(kind, self.playbook, outcome, seconds)

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        run_input = next((a for a in input.args if isinstance(a, RunInput)), None)
        if run_input is None:
            return await super().execute_workflow(input)
        self.playbook = run_input.plan.name
        self._report("run_started", "")
        try:
            result = await super().execute_workflow(input)
        except asyncio.CancelledError:
            self._report("run_finished", RunStatus.CANCELLED.value)
            raise
        except FailureError:
            # Only these fail the run; any other exception fails the task, which Temporal retries.
            self._report("run_finished", RunStatus.FAILED.value)
            raise
        if isinstance(result, RunState):
            self._report("run_finished", result.status.value)
            for step in result.steps:
                approval = step.approval
                if approval is not None and approval.timed_out:
                    wait = _seconds(approval.requested_at, approval.decided_at or approval.deadline)
                    self._report("approval", ApprovalOutcome.TIMED_OUT.value, wait)
        return result

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        result = await super().handle_update_handler(input)
        if input.update == DECIDE_UPDATE and isinstance(result, StepRecord) and result.approval is not None:
            approval = result.approval
            if approval.decision is not None and not approval.timed_out:
                wait = _seconds(approval.requested_at, approval.decided_at)
                self._report("approval", ApprovalOutcome(approval.decision.value).value, wait)
        return result


def worker_interceptors() -> list[Interceptor]:
    """What to pass as ``Worker(interceptors=...)`` when the client does not carry them already."""
    return [FirelineInterceptor()]
