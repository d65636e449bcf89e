"""Workers scale out: two share one queue and one can die; SIGTERM lets in-flight actions finish;
an integration can have its own task queue served by its own workers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine import client as fl
from engine.activities.run_action import ActionRunner
from engine.plan.state import RunStatus
from engine.registry import ActionRegistry
from engine.sdk import action
from engine.worker import build_action_worker, build_worker
from integrations.core import actions as core
from tests.fixtures.actions import TEST_REGISTRY
from tests.reliability.crash_worker import REGISTRY as WORKER_REGISTRY
from tests.workflow.test_playbook_run import alert, plan_of

ROOT = Path(__file__).parents[2]
PAUSES = """\
metadata: {{ name: pauses, version: 1 }}
steps:
  - id: first
    uses: test.pause
    timeout: 4s
    retry: {{ attempts: 4, initial: 200ms, backoff: 1.0 }}
    with: {{ seconds: {seconds} }}
  - id: second
    uses: test.pause
    timeout: 4s
    retry: {{ attempts: 4, initial: 200ms, backoff: 1.0 }}
    with: {{ seconds: {seconds} }}
"""


def worker_process(address: str, task_queue: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.crash_worker", address, task_queue],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "CRASH_MARKER"},
    )
    assert proc.stdout is not None and "worker ready" in proc.stdout.readline()
    return proc


async def test_two_workers_share_the_load_and_survive_one_dying(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = temporal_env.client
    address = client.service_client.config.target_host
    left, right = worker_process(address, task_queue), worker_process(address, task_queue)
    try:
        plan = plan_of(PAUSES.format(seconds=0.4), registry=WORKER_REGISTRY)
        runs = await asyncio.gather(
            *(fl.start_run(client, plan, alert(), {}, task_queue=task_queue) for _ in range(12))
        )
        await asyncio.sleep(0.6)
        os.kill(left.pid, signal.SIGKILL)  # mid-flight: some of its actions never report
        left.wait(10)
        states = await asyncio.gather(*(_finish(client, r.run_id) for r in runs))
    finally:
        right.send_signal(signal.SIGTERM)
        right.wait(30)
    assert {s.status for s in states} == {RunStatus.SUCCEEDED}
    pids = {rec.output["pid"] for s in states for rec in s.steps if rec.output}
    assert (
        pids == {right.pid} | ({left.pid} & pids) and left.pid in pids
    )  # both worked; the survivor finished
    retried = [rec for s in states for rec in s.steps if len(rec.attempts) > 1]
    assert retried and all(rec.attempts[0].error_type == "Timeout" for rec in retried)


async def _finish(client: Client, run_id: str):  # type: ignore[no-untyped-def]
    await client.get_workflow_handle(run_id).result()
    return await fl.status(client, run_id)


async def test_sigterm_lets_the_running_action_finish(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = temporal_env.client
    address = client.service_client.config.target_host
    worker = worker_process(address, task_queue)
    plan = plan_of(PAUSES.format(seconds=2.0), registry=WORKER_REGISTRY)
    run = await fl.start_run(client, plan, alert(), {}, task_queue=task_queue)
    for _ in range(100):
        state = await fl.status(client, run.run_id)
        if state.step("first") is not None:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    sent = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    out, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0 and "worker stopped" in out
    assert time.monotonic() - sent > 1.0  # it waited for the action instead of dropping it
    successor = worker_process(address, task_queue)
    try:
        final = await _finish(client, run.run_id)
    finally:
        successor.send_signal(signal.SIGTERM)
        successor.wait(30)
    first = final.step("first")
    assert first is not None and [a.error_type for a in first.attempts] == [None]
    assert first.output["pid"] == worker.pid


async def test_an_integration_on_its_own_queue(client: Client, task_queue: str) -> None:
    core_only = ActionRegistry()
    core_only._loaded = True
    action("core.echo", registry=core_only)(core.echo)
    plan = plan_of(
        """\
        metadata: { name: split-queues, version: 1 }
        steps:
          - id: change
            uses: test.effect
            retry: { attempts: 1 }
            with: { target: model-a }
          - id: tell
            uses: core.echo
            with: { message: "{{ steps.change.status }}" }
        """
    )
    own_queue = f"{task_queue}-test"
    main = build_worker(client, task_queue, runner=ActionRunner(core_only))
    dedicated = build_action_worker(client, own_queue, runner=ActionRunner(TEST_REGISTRY))
    async with main, dedicated:
        routed = await fl.start_run(
            client,
            plan,
            alert(),
            {},
            task_queue=task_queue,
            options=fl.RunOptions(action_queues={"test": own_queue}),
        )
        unrouted = await fl.start_run(client, plan, alert(), {}, task_queue=task_queue)
        good, bad = await _finish(client, routed.run_id), await _finish(client, unrouted.run_id)
    assert good.status is RunStatus.SUCCEEDED and good.step("change").output["target"] == "model-a"  # type: ignore[union-attr]
    # the main workers do not carry the integration: without routing the step cannot run there
    assert bad.status is RunStatus.FAILED and bad.step("change").error_type == "ActionNotFound"  # type: ignore[union-attr]
