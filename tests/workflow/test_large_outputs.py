"""Large step outputs, which a run holds as compact JSON text, look the same to everyone.

Real Temporal dev server. Templates read them (whole, by path, through loop and parallel
outputs), the status query and the result return them, and a run parked on an approval keeps
them across continue-as-new.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from engine import client as fl
from engine.plan.state import Decision, RunStatus
from tests.workflow.test_playbook_run import alert, plan_of, wait_for

#: About 2.6 KB of text: far past the size from which outputs are packed.
BLOB = "".join(f"line {n:04d} of the evidence é; " for n in range(90))

PLAYBOOK = """\
metadata: { name: large-outputs, version: 1 }
steps:
  - id: evidence
    uses: core.echo
    with: { message: "{{ alert.fields.blob }}" }
  - id: per_key
    for_each: [k1, k2, k3]
    as: key_id
    steps:
      - id: big
        uses: core.echo
        with: { message: "{{ key_id }}: {{ steps.evidence.output.message }}" }
      - id: small
        uses: core.echo
        with: { message: "{{ key_id }}" }
  - id: both
    parallel:
      - id: wide
        uses: core.echo
        with: { message: "{{ steps.evidence.output.message }}!" }
      - id: narrow
        uses: core.echo
        with: { message: "{{ steps.per_key.output | length }} keys" }
  - id: approve
    approval:
      title: "Act on {{ steps.evidence.output.message[:9] }}?"
      approvers: [user:U1]
      timeout: 1h
  - id: act
    uses: core.echo
    with:
      message: >-
        {{ steps.per_key.output[2].big.message[:4] }}|{{ steps.both.output.narrow.message }}|{{
        steps.both.output.wide.message | length }}
outputs:
  evidence: "{{ steps.evidence.output }}"
  smalls: "{{ steps.per_key.output | map(attribute='small') | map(attribute='message') | join(',') }}"
"""


def expected_loop() -> list[dict[str, dict[str, str]]]:
    return [{"big": {"message": f"{k}: {BLOB}"}, "small": {"message": k}} for k in ("k1", "k2", "k3")]


async def test_large_outputs_read_the_same_by_templates_queries_and_after_continue_as_new(
    client: Client, task_queue: str, worker: Worker
) -> None:
    options = fl.RunOptions(continue_after_events=40)
    run = await fl.start_run(
        client, plan_of(PLAYBOOK), alert(fields={"blob": BLOB}), {}, task_queue=task_queue, options=options
    )
    parked = await wait_for(client, run.run_id, lambda s: s.pending_approvals())
    assert parked.step("evidence").output == {"message": BLOB}  # type: ignore[union-attr]
    assert parked.step("per_key").output == expected_loop()  # type: ignore[union-attr]
    both = parked.step("both")
    assert both is not None and both.output == {
        "wide": {"message": f"{BLOB}!"},
        "narrow": {"message": "3 keys"},
    }
    approval = parked.pending_approvals()[0].approval
    assert approval is not None and approval.title == "Act on line 0000?"
    await wait_for(client, run.run_id, lambda s: s.continuations >= 1)

    await fl.decide(client, run.run_id, "approve", Decision.APPROVE, "user:U1")
    await client.get_workflow_handle(run.run_id).result()
    final = await fl.status(client, run.run_id)

    assert final.status is RunStatus.SUCCEEDED, final.failure
    assert final.continuations >= 1
    # Read from the checkpoint the run continued with, not from the first history.
    assert final.step("act").output == {"message": f"k3: |3 keys|{len(BLOB) + 1}"}  # type: ignore[union-attr]
    assert final.outputs == {"evidence": {"message": BLOB}, "smalls": "k1,k2,k3"}
    assert final.step("per_key").output == expected_loop()  # type: ignore[union-attr]
