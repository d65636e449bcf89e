"""Sixty days parked, on the time-skipping server: the run continues as new while it waits, and its
clocks do not restart — the wait ends on its day, reminders fire once each, the deadline stands."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from engine import client as fl
from engine.activities.run_action import ActionRunner
from engine.plan.state import JoinedAlert, StepStatus
from engine.worker import build_worker
from engine.workflows.types import JOIN_SIGNAL
from tests.fixtures.actions import TEST_REGISTRY
from tests.workflow.test_playbook_run import alert, plan_of

PLAYBOOK = """\
metadata: { name: parked-sixty-days, version: 1 }
steps:
  - id: evidence
    uses: core.echo
    with: { message: "{{ alert.title }}" }
  - id: hold
    wait: 20d
  - id: approve
    approval:
      title: "Notify the regulator?"
      approvers: [user:U1]
      timeout: 40d
      remind_before: [30d, 1d]
      on_timeout: escalate
      escalate_to: [group:dpo]
  - id: after
    uses: core.echo
    with: { message: "{{ steps.approve.decided_by }}" }
"""


def near(moment: datetime | None, expected: datetime) -> bool:
    return moment is not None and abs((moment - expected).total_seconds()) < 5


async def repeats(env: WorkflowEnvironment, run_id: str, first: int, count: int) -> None:
    handle = env.client.get_workflow_handle(run_id)
    for n in range(first, first + count):
        await handle.signal(JOIN_SIGNAL, JoinedAlert(id=f"r{n}", received_at=await env.get_current_time()))


async def test_a_run_parked_sixty_days_keeps_its_clocks_across_continue_as_new(
    skipping_env: WorkflowEnvironment,
) -> None:
    env, queue = skipping_env, f"parked-{uuid.uuid4().hex[:8]}"
    start = await env.get_current_time()
    options = fl.RunOptions(continue_after_events=20)
    async with build_worker(env.client, queue, runner=ActionRunner(TEST_REGISTRY)):
        run = await fl.start_run(
            env.client, plan_of(PLAYBOOK), alert(), {}, task_queue=queue, options=options
        )
        await repeats(env, run.run_id, 0, 8)  # parked in the 20-day wait
        await env.sleep(timedelta(days=25))
        parked = await fl.status(env.client, run.run_id)
        assert parked.continuations >= 1
        hold, approve = parked.step("hold"), parked.step("approve")
        assert hold is not None and hold.status is StepStatus.SUCCEEDED
        assert near(hold.finished_at, start + timedelta(days=20))  # the wait did not start over
        assert approve is not None and approve.approval is not None
        assert near(approve.approval.requested_at, start + timedelta(days=20))

        await repeats(env, run.run_id, 8, 8)  # and again while it waits for the approver
        # A handle got by id does not skip time on its own (only one from start_workflow does).
        await env.sleep(timedelta(days=36))
        await env.client.get_workflow_handle(run.run_id).result()
        final = await fl.status(env.client, run.run_id)

    assert final.continuations >= 2
    assert [j.id for j in final.joined_alerts] == [f"r{n}" for n in range(16)]
    record = final.step("approve")
    assert record is not None and record.status is StepStatus.TIMED_OUT and record.approval is not None
    approval = record.approval
    assert len(approval.reminded_at) == 2, approval.reminded_at  # each reminder once, none repeated
    assert near(approval.reminded_at[0], start + timedelta(days=30))
    assert near(approval.reminded_at[1], start + timedelta(days=59))
    assert near(approval.escalated_at, start + timedelta(days=59)) and "group:dpo" in approval.approvers
    assert near(approval.deadline, start + timedelta(days=60))
    assert near(approval.decided_at, start + timedelta(days=60)) and approval.decided_by == "timeout"
    assert final.step("after").output == {"message": "timeout"}  # type: ignore[union-attr]
