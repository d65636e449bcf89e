"""A parked run continues as new before its history grows long, and loses nothing doing so.

Real Temporal dev server, real Elasticsearch stand-in for the audit trail: the run parks on an
approval inside a loop, repeats of the incident keep joining it, it rolls over to fresh histories,
and then finishes as if nothing happened — finished steps not repeated, every repeat recorded, the
hash chain whole across the runs.
"""

from __future__ import annotations

import pytest
from rich.console import Console
from temporalio.client import Client

from engine import client as fl
from engine.activities.audit import AuditStore
from engine.activities.run_action import ActionRunner
from engine.cli.render import print_run
from engine.errors import ResetRefused
from engine.plan.audit import verify_chain
from engine.plan.state import Decision, JoinedAlert, RunStatus, StepStatus
from engine.reset import reset_run
from engine.worker import build_worker
from engine.workflows.types import JOIN_SIGNAL
from tests.fixtures.actions import CALLS, TEST_REGISTRY
from tests.fixtures.elasticsearch import elasticsearch_url  # noqa: F401
from tests.workflow.test_playbook_run import alert, plan_of, wait_for

PLAYBOOK = """\
metadata: { name: parked-for-weeks, version: 1 }
steps:
  - id: evidence
    uses: test.switch
    with: { target: evidence }
  - id: never
    if: "false"
    uses: core.echo
    with: { message: skipped }
  - id: per_key
    for_each: [k1, k2]
    as: key_id
    steps:
      - id: approve
        approval:
          title: "Revoke {{ key_id }}?"
          approvers: [user:U1]
          timeout: 7d
      - id: revoke
        uses: test.switch
        with: { target: "{{ key_id }}" }
  - id: done
    uses: core.echo
    with: { message: "{{ steps.evidence.output.target }} then {{ steps.per_key.output | length }} keys" }
outputs:
  last: "{{ steps.per_key.output[1].revoke.target }}"
  message: "{{ steps.done.output.message }}"
"""
REPEATS = 30


async def test_a_parked_run_rolls_over_and_finishes_with_nothing_lost_or_repeated(
    client: Client, task_queue: str, elasticsearch_url: str
) -> None:
    store = AuditStore(elasticsearch_url)
    options = fl.RunOptions(continue_after_events=40)
    async with build_worker(client, task_queue, runner=ActionRunner(TEST_REGISTRY, audit=store)):
        run = await fl.start_run(
            client, plan_of(PLAYBOOK), alert(), {}, task_queue=task_queue, options=options
        )
        handle = client.get_workflow_handle(run.run_id)
        first_run = (await handle.describe()).run_id
        await wait_for(client, run.run_id, lambda s: s.pending_approvals())
        await fl.decide(client, run.run_id, "per_key[0].approve", Decision.APPROVE, "user:U1")
        await wait_for(client, run.run_id, lambda s: s.step("per_key[1].approve") is not None)
        asked = (await fl.status(client, run.run_id)).step("per_key[1].approve")
        assert asked is not None and asked.approval is not None

        for n in range(REPEATS):  # a storm of repeats while the incident waits for its approver
            repeat = JoinedAlert(id=f"repeat-{n}", title="again", received_at=asked.started_at)
            await handle.signal(JOIN_SIGNAL, repeat)
        parked = await wait_for(client, run.run_id, lambda s: len(s.joined_alerts) == REPEATS)
        assert parked.continuations >= 1, "the run never continued as new"
        assert (await handle.describe()).run_id != first_run
        still = parked.step("per_key[1].approve")
        assert still is not None and still.status is StepStatus.WAITING and still.approval is not None
        assert still.approval.requested_at == asked.approval.requested_at  # asked once, not again
        # Its first steps are in an earlier history now: a reset says so instead of failing oddly.
        with pytest.raises(ResetRefused, match="before the run last continued as new"):
            await reset_run(client, run.run_id, "evidence", by="alice", reason="again")

        await fl.decide(
            client, run.run_id, "per_key[1].approve", Decision.APPROVE, "user:U1", reason="k2 too"
        )
        await client.get_workflow_handle(run.run_id).result()
        state = await fl.status(client, run.run_id)

    assert state.status is RunStatus.SUCCEEDED, state.failure
    assert state.outputs == {"last": "k2", "message": "evidence then 2 keys"}
    assert [j.id for j in state.joined_alerts] == [f"repeat-{n}" for n in range(REPEATS)]
    assert state.step("never").status is StepStatus.SKIPPED  # type: ignore[union-attr]
    paths = [c["path"] for c in CALLS if c["key"].startswith(f"{run.run_id}:")]
    assert sorted(paths) == ["evidence", "per_key[0].revoke", "per_key[1].revoke"]  # each exactly once
    assert len({r.path for r in state.steps}) == len(state.steps)  # one record per step

    events = store.read(run.run_id)
    report = verify_chain(run.run_id, events)
    assert report.ok and report.forks == 0, report
    actions = [e.action for e in events]
    assert actions.count("run.started") == 1 and actions.count("run.finished") == 1
    assert actions.count("run.continued") == state.continuations
    assert actions.count("alert.joined") == REPEATS
    assert actions.count("approval.requested") == 2

    shown = Console(record=True, width=200)
    print_run(shown, state)  # what `fireline show` prints
    assert f"continued as new {state.continuations} time(s)" in shown.export_text()
