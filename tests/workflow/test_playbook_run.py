"""PlaybookRun on a real Temporal dev server: approvals, dedup, retries, cancel, child runs."""

from __future__ import annotations

import asyncio
import textwrap
import uuid
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from engine import client as fl
from engine.errors import ApprovalRefused, RunNotFound
from engine.plan.compile import compile_plan
from engine.plan.models import Plan
from engine.plan.state import Decision, RunState, RunStatus, StepStatus
from engine.registry import ActionRegistry
from engine.spec.catalog import Catalog, validate_text
from tests.fixtures.actions import CALLS, TEST_REGISTRY

HEAD = "apiVersion: fireline/v1\nkind: Playbook\n"


def plan_of(body: str, *children: str, registry: ActionRegistry = TEST_REGISTRY) -> Plan:
    entries = [
        validate_text(HEAD + textwrap.dedent(t), f"{i}.yaml", registry)
        for i, t in enumerate((body, *children))
    ]
    for entry in entries:
        assert entry.diagnostics == [], [d.render() for d in entry.diagnostics]
    catalog = Catalog(entries=entries, by_name={e.name or "": e for e in entries})
    return compile_plan(entries[0], catalog)


def alert(fingerprint: str | None = None, **extra: Any) -> dict[str, Any]:
    base = {
        "id": f"a-{uuid.uuid4().hex[:6]}",
        "source": "generic",
        "rule": "AI model prompt injection burst",
        "title": "Injection burst on support-assistant",
        "severity": "high",
        "fingerprint": fingerprint or uuid.uuid4().hex,
        "occurred_at": "2026-11-20T08:14:03Z",
        "received_at": "2026-11-20T08:14:05Z",
        "entities": {"hosts": [], "users": [], "ips": [], "api_keys": [], "models": ["support-assistant"]},
        "fields": {},
    }
    return {**base, **extra}


async def wait_for(client: Client, run_id: str, predicate: Any, timeout: float = 20) -> RunState:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        state = await fl.status(client, run_id)
        if predicate(state):
            return state
        assert asyncio.get_running_loop().time() < deadline, state.model_dump_json(indent=1)
        await asyncio.sleep(0.1)


APPROVAL_PLAYBOOK = """\
metadata: { name: approve-then-act, version: 1 }
steps:
  - id: evidence
    uses: core.echo
    with: { message: "{{ alert.title }}" }
  - id: approve
    approval:
      title: "Quarantine {{ alert.entities.models[0] }}?"
      details: "{{ steps.evidence.output.message }}"
      approvers: [user:U1, group:ml-oncall]
      timeout: 1h
  - id: quarantine
    if: steps.approve.approved
    uses: core.echo
    with: { message: "quarantined by {{ steps.approve.decided_by }}" }
outputs:
  who: "{{ steps.approve.decided_by }}"
"""


async def test_approval_decided_once_by_an_allowed_approver(
    client: Client, task_queue: str, worker: Worker
) -> None:
    plan = plan_of(APPROVAL_PLAYBOOK)
    run = await fl.start_run(client, plan, alert(), {}, task_queue=task_queue)
    state = await wait_for(client, run.run_id, lambda s: s.pending_approvals())
    pending = state.pending_approvals()[0]
    assert pending.approval is not None and pending.approval.title == "Quarantine support-assistant?"

    with pytest.raises(ApprovalRefused, match="not an approver"):
        await fl.decide(client, run.run_id, "approve", Decision.APPROVE, "user:mallory")
    with pytest.raises(ApprovalRefused, match="no approval step"):
        await fl.decide(client, run.run_id, "evidence", Decision.APPROVE, "user:U1")
    with pytest.raises(ApprovalRefused, match="needs a reason"):
        await fl.decide(client, run.run_id, "approve", Decision.REJECT, "user:U1")

    record = await fl.decide(
        client, run.run_id, "approve", Decision.APPROVE, "user:bob", groups=["ml-oncall"]
    )
    assert record.status is StepStatus.SUCCEEDED
    with pytest.raises(ApprovalRefused, match=r"already approved by user:bob at"):
        await fl.decide(client, run.run_id, "approve", Decision.REJECT, "user:U1", reason="too late")

    await client.get_workflow_handle(run.run_id).result()
    final = await fl.status(client, run.run_id)
    assert final.status is RunStatus.SUCCEEDED
    assert final.outputs == {"who": "user:bob"}
    assert final.step("quarantine").output == {"message": "quarantined by user:bob"}  # type: ignore[union-attr]

    # refused decisions never reached history; the accepted one did, with who decided
    history = await client.get_workflow_handle(run.run_id).fetch_history()
    accepted = [
        e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert len(accepted) == 1
    assert b"user:bob" in accepted[0].SerializeToString()


async def test_pending_approvals_answers_only_what_waits(
    client: Client, task_queue: str, worker: Worker
) -> None:
    run = await fl.start_run(client, plan_of(APPROVAL_PLAYBOOK), alert(), {}, task_queue=task_queue)
    state = await wait_for(client, run.run_id, lambda s: s.pending_approvals())
    pending = await fl.pending_approvals(client, run.run_id)
    assert [r.path for r in pending] == ["approve"]
    assert pending[0].approval == state.pending_approvals()[0].approval
    # the answer a poller holds is the approval, not the timeline with every step's output
    assert all(r.output is None for r in pending)

    await fl.decide(client, run.run_id, "approve", Decision.APPROVE, "user:U1")
    assert await fl.pending_approvals(client, run.run_id) == []
    await client.get_workflow_handle(run.run_id).result()
    assert await fl.pending_approvals(client, run.run_id) == []  # a closed run answers too
    with pytest.raises(RunNotFound):
        await fl.pending_approvals(client, "no-such-run")


async def test_repeat_alerts_join_the_open_run(client: Client, task_queue: str, worker: Worker) -> None:
    plan = plan_of(APPROVAL_PLAYBOOK)
    fingerprint = uuid.uuid4().hex
    first = await fl.start_run(client, plan, alert(fingerprint), {}, task_queue=task_queue)
    second = await fl.start_run(client, plan, alert(fingerprint, id="a-repeat"), {}, task_queue=task_queue)
    other = await fl.start_run(client, plan, alert(), {}, task_queue=task_queue)
    assert not first.joined and second.joined and not other.joined
    assert second.run_id == first.run_id != other.run_id
    state = await wait_for(client, first.run_id, lambda s: s.joined_alerts)
    assert [a.id for a in state.joined_alerts] == ["a-repeat"]
    for run_id in (first.run_id, other.run_id):
        await fl.cancel(client, run_id)


async def test_cancel_marks_the_waiting_step_cancelled(
    client: Client, task_queue: str, worker: Worker
) -> None:
    plan = plan_of(APPROVAL_PLAYBOOK)
    run = await fl.start_run(client, plan, alert(), {}, task_queue=task_queue)
    await wait_for(client, run.run_id, lambda s: s.pending_approvals())
    await fl.cancel(client, run.run_id)
    state = await wait_for(client, run.run_id, lambda s: s.status is RunStatus.CANCELLED)
    assert state.step("approve").status is StepStatus.CANCELLED  # type: ignore[union-attr]
    for _ in range(100):  # the visibility store catches up asynchronously
        listed = {s.run_id: s.status for s in await fl.list_runs(client, limit=200)}
        if listed.get(run.run_id) in ("cancelled", "canceled"):
            break
        await asyncio.sleep(0.1)
    assert listed[run.run_id] in ("cancelled", "canceled")


async def test_retries_show_every_attempt_and_on_failure_runs(
    client: Client, task_queue: str, worker: Worker
) -> None:
    plan = plan_of(
        """\
        metadata: { name: flaky-then-fail, version: 1 }
        steps:
          - id: flaky
            uses: test.flaky
            retry: { attempts: 3, initial: 100ms, backoff: 1.0, max: 1s }
            with: { fail_times: 2, message: ok }
          - id: broken
            uses: core.fail
            with: { message: "model registry refused", type: Forbidden }
          - id: never
            uses: core.echo
            with: { message: unreachable }
        on_failure:
          - id: tell
            uses: core.echo
            with: { message: "failed at {{ failure.step }}: {{ failure.message }}" }
        """
    )
    run = await fl.start_run(client, plan, alert(), {}, task_queue=task_queue)
    await client.get_workflow_handle(run.run_id).result()
    state = await fl.status(client, run.run_id)
    flaky = state.step("flaky")
    assert flaky is not None and flaky.status is StepStatus.SUCCEEDED
    assert [a.error_type for a in flaky.attempts] == ["Unavailable", "Unavailable", None]
    keys = {c["key"] for c in CALLS if c["path"] == "flaky" and run.run_id in c["key"]}
    assert len(keys) == 1  # one idempotency key across the attempts
    broken = state.step("broken")
    assert broken is not None and broken.status is StepStatus.FAILED and len(broken.attempts) == 1
    assert state.status is RunStatus.FAILED and state.step("never") is None
    tell = state.step("on_failure.tell")
    assert tell is not None and tell.output == {"message": "failed at broken: model registry refused"}


async def test_child_playbook_and_parallel_loops(client: Client, task_queue: str, worker: Worker) -> None:
    plan = plan_of(
        """\
        metadata: { name: parent-run, version: 1 }
        steps:
          - id: keys
            for_each: [k1, k2, k3, k4]
            as: key_id
            max_parallel: 2
            steps:
              - id: revoke
                uses: test.effect
                with: { target: "{{ key_id }}" }
          - id: review
            playbook: child-review
            with: { incident: "{{ run.id }}", revoked: "{{ steps.keys.output | length }}" }
        outputs:
          summary: "{{ steps.review.output.summary }}"
        """,
        """\
        metadata: { name: child-review, version: 1 }
        inputs:
          incident: { type: string, required: true }
          revoked: { type: integer }
        steps:
          - id: write
            uses: core.echo
            with: { message: "{{ inputs.incident }} revoked {{ inputs.revoked }}" }
        outputs:
          summary: "{{ steps.write.output.message }}"
        """,
    )
    run = await fl.start_run(client, plan, alert(), {}, task_queue=task_queue)
    await client.get_workflow_handle(run.run_id).result()
    state = await fl.status(client, run.run_id)
    assert state.status is RunStatus.SUCCEEDED, state.failure
    assert state.outputs["summary"] == f"{run.run_id} revoked 4"
    targets = [s.output["target"] for s in state.steps if s.path.startswith("keys[")]
    assert sorted(targets) == ["k1", "k2", "k3", "k4"]
    review = state.step("review")
    assert review is not None and review.child_run == f"{run.run_id}/review"
