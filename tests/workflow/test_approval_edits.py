"""Edit-then-approve and first-decision-wins, on a real Temporal dev server."""

from __future__ import annotations

import asyncio
import textwrap

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from engine import client as fl
from engine.activities.audit import AuditStore
from engine.activities.run_action import ActionRunner
from engine.errors import ApprovalRefused
from engine.plan.compile import compile_plan
from engine.plan.models import Plan
from engine.plan.state import Decision, RunStatus, StepStatus
from engine.spec.catalog import Catalog, validate_text
from engine.worker import build_worker
from tests.fixtures.actions import TEST_REGISTRY
from tests.fixtures.elasticsearch import elasticsearch_url  # noqa: F401
from tests.workflow.test_playbook_run import HEAD, alert, wait_for

LEAKED = "AKIAIOSFODNN7EXAMPLE"
SPARE = "AKIAJ2SPAREKEY00001"

EDITABLE_PLAYBOOK = """\
metadata: { name: edit-then-approve, version: 1 }
steps:
  - id: find
    uses: core.set
    with: { values: { keys: ["AKIAIOSFODNN7EXAMPLE", "AKIAJ2SPAREKEY00001"], user: ci-bot } }
  - id: approve
    approval:
      title: "Block {{ steps.find.output['keys'] | length }} keys of {{ steps.find.output.user }}?"
      approvers: [user:U1, user:U2]
      timeout: 1h
      guards: block
      editable: [keys]
  - id: block
    if: steps.approve.approved
    uses: test.block_keys
    with:
      keys: "{{ steps.find.output['keys'] }}"
      user: "{{ steps.find.output.user }}"
outputs:
  blocked: "{{ steps.block.output.blocked }}"
"""


def plan_of(body: str) -> Plan:
    entry = validate_text(HEAD + textwrap.dedent(body), "edit.yaml", TEST_REGISTRY)
    assert entry.diagnostics == [], [d.render() for d in entry.diagnostics]
    catalog = Catalog(entries=[entry], by_name={entry.name or "": entry})
    return compile_plan(entry, catalog, TEST_REGISTRY)


async def test_edited_keys_are_checked_recorded_and_used(
    client: Client, task_queue: str, elasticsearch_url: str
) -> None:
    store = AuditStore(elasticsearch_url)
    async with build_worker(client, task_queue, runner=ActionRunner(TEST_REGISTRY, audit=store)):
        run_id = await _edit_and_approve(client, task_queue)
    decided = [e for e in store.read(run_id) if e.action == "approval.decided"]
    assert decided[0].actor == "user:U2"
    assert decided[0].detail == {
        "reason": "",
        "via": "console",
        "edited": {"step": "block", "keys": {"from": [LEAKED, SPARE], "to": [LEAKED]}},
    }


async def _edit_and_approve(client: Client, task_queue: str) -> str:
    run = await fl.start_run(client, plan_of(EDITABLE_PLAYBOOK), alert(), {}, task_queue=task_queue)
    state = await wait_for(client, run.run_id, lambda s: s.pending_approvals())
    pending = state.pending_approvals()[0].approval
    assert pending is not None
    # what the console and Slack prefill: the guarded step's argument as it renders now
    assert pending.guards == "block" and pending.editable == {"keys": [LEAKED, SPARE]}

    with pytest.raises(
        ApprovalRefused, match=r"edited block\.keys\[0\]: 'akia-lower-case-key' does not match"
    ):
        await fl.decide(
            client,
            run.run_id,
            "approve",
            Decision.APPROVE,
            "user:U1",
            edits={"keys": ["akia-lower-case-key"]},
        )
    with pytest.raises(ApprovalRefused, match=r"edited block\.keys: 'AKIA' is not of type 'array'"):
        await fl.decide(client, run.run_id, "approve", Decision.APPROVE, "user:U1", edits={"keys": "AKIA"})
    with pytest.raises(ApprovalRefused, match=r"user is not editable on approve \(editable: keys\)"):
        await fl.decide(client, run.run_id, "approve", Decision.APPROVE, "user:U1", edits={"user": "root"})
    with pytest.raises(ApprovalRefused, match="only go with an approval"):
        await fl.decide(
            client, run.run_id, "approve", Decision.REJECT, "user:U1", reason="no", edits={"keys": [LEAKED]}
        )

    record = await fl.decide(
        client, run.run_id, "approve", Decision.APPROVE, "user:U2", via="console", edits={"keys": [LEAKED]}
    )
    assert record.approval is not None and record.approval.edits == {"keys": [LEAKED]}

    await client.get_workflow_handle(run.run_id).result()
    final = await fl.status(client, run.run_id)
    assert final.status is RunStatus.SUCCEEDED
    assert final.outputs == {"blocked": [LEAKED]}  # the spare key the approver took out stayed alone
    block = final.step("block")
    assert block is not None and block.edited_args == {"keys": [LEAKED]}

    # only the accepted decision reached history
    history = await client.get_workflow_handle(run.run_id).fetch_history()
    accepted = [
        e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert len(accepted) == 1
    return run.run_id


async def test_two_simultaneous_decisions_first_wins_second_is_told_who(
    client: Client, task_queue: str, worker: Worker
) -> None:
    run = await fl.start_run(client, plan_of(EDITABLE_PLAYBOOK), alert(), {}, task_queue=task_queue)
    await wait_for(client, run.run_id, lambda s: s.pending_approvals())

    # Several at once, so some reach the worker in the same workflow activation.
    results = await asyncio.gather(
        fl.decide(client, run.run_id, "approve", Decision.APPROVE, "user:U1", via="slack"),
        fl.decide(client, run.run_id, "approve", Decision.REJECT, "user:U2", reason="wrong user", via="cli"),
        fl.decide(client, run.run_id, "approve", Decision.APPROVE, "user:U2", via="console"),
        fl.decide(client, run.run_id, "approve", Decision.REJECT, "user:U1", reason="no", via="cli"),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1 and len(lost) == 3, results
    winner = won[0].approval
    assert winner is not None and winner.decided_at is not None
    verb = "approved" if winner.decision is Decision.APPROVE else "rejected"
    when = winner.decided_at.isoformat().replace("+00:00", "Z")
    told = f"approve was already {verb} by {winner.decided_by} at {when} via {winner.decided_via}"
    assert all(isinstance(e, ApprovalRefused) and told in str(e) for e in lost), lost

    await client.get_workflow_handle(run.run_id).result()
    final = await fl.status(client, run.run_id)
    approval = final.step("approve")
    assert approval is not None and approval.status in (StepStatus.SUCCEEDED, StepStatus.REJECTED)
    history = await client.get_workflow_handle(run.run_id).fetch_history()
    accepted = [
        e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert len(accepted) == 1

    # later, on the closed run, the same answer
    with pytest.raises(ApprovalRefused, match=f"already {verb} by {winner.decided_by} at"):
        await fl.decide(client, run.run_id, "approve", Decision.APPROVE, "user:U1")
