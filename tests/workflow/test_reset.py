"""``fireline reset``: re-run a run from a step on a real Temporal dev server."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from engine import client as fl
from engine.errors import ResetRefused
from engine.plan.state import Decision, RunStatus, StepStatus
from engine.reset import reset_run
from tests.fixtures.actions import BROKEN, CALLS
from tests.workflow.test_playbook_run import alert, plan_of, wait_for

PLAYBOOK = """\
metadata: { name: quarantine-after-approval, version: 1 }
steps:
  - id: evidence
    uses: core.echo
    with: { message: "{{ alert.title }}" }
  - id: approve
    approval:
      title: "Quarantine?"
      approvers: [user:U1]
      timeout: 1h
  - id: quarantine
    uses: test.switch
    with: { target: "{{ target }}" }
  - id: after
    uses: core.echo
    with: { message: "{{ steps.quarantine.output.target }} done" }
"""


def playbook(target: str) -> str:
    return PLAYBOOK.replace("{{ target }}", target)


async def test_reset_reruns_from_the_failed_step_keeping_the_approval(
    client: Client, task_queue: str, worker: Worker
) -> None:
    target = f"registry-{uuid.uuid4().hex[:6]}"
    BROKEN.add(target)
    run = await fl.start_run(client, plan_of(playbook(target)), alert(), {}, task_queue=task_queue)
    await wait_for(client, run.run_id, lambda s: s.pending_approvals())
    await fl.decide(client, run.run_id, "approve", Decision.APPROVE, "user:U1")
    await client.get_workflow_handle(run.run_id).result()
    failed = await fl.status(client, run.run_id)
    assert failed.status is RunStatus.FAILED and failed.failure is not None
    assert failed.failure["step"] == "quarantine"

    BROKEN.discard(target)  # the outside system is back
    outcome = await reset_run(client, run.run_id, None, by="user:U1", reason="registry is back up")
    assert outcome.step == "quarantine" and outcome.to_run != outcome.from_run

    await client.get_workflow_handle(run.run_id).result()
    state = await fl.status(client, run.run_id)
    assert state.status is RunStatus.SUCCEEDED, state.failure
    assert state.step("quarantine").output == {"target": target, "changed": True}  # type: ignore[union-attr]
    assert state.step("after").status is StepStatus.SUCCEEDED  # type: ignore[union-attr]
    # the approval given before the step stands: nobody was asked again
    approval = state.step("approve")
    assert approval is not None and approval.approval is not None
    assert approval.approval.decided_by == "user:U1"
    # the evidence step ran once; the quarantine twice (once failed, once after the reset)
    runs = [c for c in CALLS if c["key"].startswith(run.run_id)]
    assert [c["path"] for c in runs].count("quarantine") == 2
    [reset] = state.resets
    assert (reset.by, reset.reason, reset.step) == ("user:U1", "registry is back up", "quarantine")
    assert reset.previous_failure and "is down" in reset.previous_failure["message"]


async def test_reset_refuses_unknown_and_child_steps_and_needs_a_reason(
    client: Client, task_queue: str, worker: Worker
) -> None:
    run = await fl.start_run(client, plan_of(playbook("fine")), alert(), {}, task_queue=task_queue)
    await wait_for(client, run.run_id, lambda s: s.pending_approvals())
    with pytest.raises(ResetRefused, match="needs a reason"):
        await reset_run(client, run.run_id, "evidence", by="user:U1", reason=" ")
    with pytest.raises(ResetRefused, match="no step 'nope'"):
        await reset_run(client, run.run_id, "nope", by="user:U1", reason="x")
    with pytest.raises(ResetRefused, match="no failed step"):
        await reset_run(client, run.run_id, None, by="user:U1", reason="x")
    await fl.cancel(client, run.run_id)
