"""Run the real PlaybookRun workflow on Temporal's time-skipping test server."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from engine.errors import ApprovalRefused, RehearsalError
from engine.plan.edits import check_edits
from engine.plan.inputs import resolve_inputs
from engine.plan.models import Plan
from engine.plan.state import RunState
from engine.rehearsal.compare import differences
from engine.rehearsal.mock_activity import mock_activity
from engine.rehearsal.models import Expect, Mocks, action_paths, approval_steps, bare_path, generic_path
from engine.stack.processes import venv_binary
from engine.worker import build_worker
from engine.workflows.types import CONTINUE_AFTER_EVENTS, WORKFLOW_NAME, RunInput

#: The shortest history a run may roll over at: a rehearsal with ``continue_as_new`` rolls often.
ROLL_OVER_EVENTS = 20


@dataclass
class RehearsalReport:
    """What a rehearsal produced."""

    state: RunState
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the run matched every expectation."""
        return not self.differences


def check_mocks(plan: Plan, mocks: Mocks) -> None:
    """Refuse to start when an action step has no mock, or a mock names no step.

    A mock may name a step by its path (``on_failure.page``, ``loop[1].revoke``), its loop-wide
    path (``loop.revoke``) or its bare id path (``page``: ids are unique in a playbook).
    """
    paths = action_paths(plan)
    keys = {bare_path(generic_path(k)) for k in mocks.actions}
    missing = [p for p in paths if bare_path(p) not in keys]
    if missing:
        raise RehearsalError(
            f"no mock for action step(s): {', '.join(missing)} (add them under actions: in the mocks)"
        )
    _check_mocked_edits(plan, mocks)
    known = {bare_path(p) for p in paths}
    unknown = [k for k in mocks.actions if bare_path(generic_path(k)) not in known]
    if unknown:
        raise RehearsalError(f"mocks name steps that are not actions of this playbook: {', '.join(unknown)}")


def _check_mocked_edits(plan: Plan, mocks: Mocks) -> None:
    """Scripted edits must pass the same checks a human's would."""
    approvals = {bare_path(p): s for p, s in approval_steps(plan).items()}
    for key, spec in mocks.approvals.items():
        step = approvals.get(bare_path(generic_path(key)))
        if not spec.set_ or step is None or step.approval is None:
            continue
        a = step.approval
        try:
            check_edits(key, a.guards, a.editable, a.edit_schema, spec.set_)
        except ApprovalRefused as exc:
            raise RehearsalError(f"approvals.{key}.set: {exc}") from None


async def rehearse(
    plan: Plan,
    alert: dict[str, Any],
    mocks: Mocks,
    expect: Expect | None = None,
    *,
    env: WorkflowEnvironment | None = None,
) -> RehearsalReport:
    """Run ``plan`` with mocked actions on a time-skipping server; compare with ``expect``."""
    check_mocks(plan, mocks)
    inputs = resolve_inputs(plan, alert, mocks.inputs)
    own_env = env is None
    if env is None:
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(venv_binary("temporal-test-server")),
            data_converter=pydantic_data_converter,
        )
    try:
        task_queue = f"rehearsal-{uuid.uuid4().hex[:8]}"
        async with build_worker(env.client, task_queue, activities=[mock_activity(mocks)]):
            state = await env.client.execute_workflow(
                WORKFLOW_NAME,
                RunInput(
                    plan=plan,
                    alert=alert,
                    inputs=inputs,
                    rehearsal_approvals=mocks.scripts(),
                    continue_after_events=ROLL_OVER_EVENTS
                    if mocks.continue_as_new
                    else CONTINUE_AFTER_EVENTS,
                ),
                id=f"rehearsal-{plan.name}-{uuid.uuid4().hex[:8]}",
                task_queue=task_queue,
                result_type=RunState,
            )
    finally:
        if own_env:
            await env.shutdown()
    return RehearsalReport(state=state, differences=differences(state, expect) if expect else [])
