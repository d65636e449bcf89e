"""Record histories of real runs for the replay tests.

Run ``.venv/bin/python -m tests.histories.record TAG`` after a deliberate change to the workflow
and commit the new ``*-TAG.json`` files. Never delete old files: they stand for runs that were
in flight when the change shipped, and must keep replaying.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from engine import client as fl
from engine.activities.run_action import ActionRunner
from engine.plan.state import Decision, JoinedAlert
from engine.stack.processes import TEMPORAL_SPEED_FLAGS, venv_binary
from engine.worker import build_worker
from engine.workflows.types import JOIN_SIGNAL
from tests.fixtures.actions import TEST_REGISTRY
from tests.workflow.test_playbook_run import APPROVAL_PLAYBOOK, alert, plan_of

HERE = Path(__file__).parent
FAILING = """\
metadata: { name: flaky-then-fail, version: 1 }
steps:
  - id: flaky
    uses: test.flaky
    retry: { attempts: 3, initial: 100ms, backoff: 1.0, max: 1s }
    with: { fail_times: 1 }
  - id: fan_out
    for_each: [a, b, c]
    max_parallel: 2
    steps:
      - id: touch
        uses: test.effect
        with: { target: "{{ item }}" }
  - id: both
    parallel:
      - id: left
        uses: core.echo
        with: { message: left }
      - id: right
        uses: core.fail
        on_error: continue
        with: { message: nope }
  - id: pause
    wait: 1s
  - id: broken
    uses: core.fail
    with: { message: "model registry refused" }
on_failure:
  - id: tell
    uses: core.echo
    with: { message: "failed at {{ failure.step }}" }
"""
#: Parked on an approval while repeats join, so it continues as new before it is decided.
PARKED_REPEATS = 12


async def main(tag: str) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(venv_binary("temporal")),
        dev_server_extra_args=list(TEMPORAL_SPEED_FLAGS),
        data_converter=pydantic_data_converter,
    )
    client = env.client
    try:
        async with build_worker(client, "record", runner=ActionRunner(TEST_REGISTRY)):
            approved = await fl.start_run(
                client, plan_of(APPROVAL_PLAYBOOK), alert(), {}, task_queue="record"
            )
            while not (await fl.status(client, approved.run_id)).pending_approvals():
                await asyncio.sleep(0.1)
            await fl.decide(client, approved.run_id, "approve", Decision.APPROVE, "user:U1")
            failing = await fl.start_run(client, plan_of(FAILING), alert(), {}, task_queue="record")
            parked = await record_parked(client)
            runs = (("approved", approved, None), ("failing", failing, None), *parked)
            for name, run, temporal_run_id in runs:
                handle = client.get_workflow_handle(run.run_id, run_id=temporal_run_id)
                if temporal_run_id is None:
                    await handle.result()
                history = await handle.fetch_history()
                (HERE / f"{name}-{tag}.json").write_text(json.dumps(json.loads(history.to_json()), indent=1))
    finally:
        await env.shutdown()


async def record_parked(client: Client) -> list[tuple[str, fl.StartedRun, str | None]]:
    """A run that continues as new while parked: its first history, and the one it ends in."""
    options = fl.RunOptions(continue_after_events=20)
    run = await fl.start_run(
        client, plan_of(APPROVAL_PLAYBOOK), alert(), {}, task_queue="record", options=options
    )
    while not (await fl.status(client, run.run_id)).pending_approvals():
        await asyncio.sleep(0.1)
    handle = client.get_workflow_handle(run.run_id)
    for n in range(PARKED_REPEATS):
        await handle.signal(JOIN_SIGNAL, JoinedAlert(id=f"r{n}", received_at=datetime.now(UTC)))
    while not (await fl.status(client, run.run_id)).continuations:
        await asyncio.sleep(0.1)
    await fl.decide(client, run.run_id, "approve", Decision.APPROVE, "user:U1")
    await handle.result()
    return [("parked-first", run, run.temporal_run_id), ("parked-last", run, None)]


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "latest"))
