"""``kill -9`` of the worker between the outside call and its report: a new worker finishes the run,
and the outside system saw the change once (idempotency key + check-before-act)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from elasticsearch import Elasticsearch
from temporalio.testing import WorkflowEnvironment

from engine import client as fl
from engine.plan.state import RunStatus
from tests.fixtures.elasticsearch import elasticsearch_url
from tests.reliability.crash_worker import REGISTRY
from tests.workflow.test_playbook_run import alert, plan_of

__all__ = ["elasticsearch_url"]
ROOT = Path(__file__).parents[2]
PLAYBOOK = """\
metadata: { name: crash-once, version: 1 }
steps:
  - id: record
    uses: test.index_then_hang
    timeout: 4s
    retry: { attempts: 3, initial: 200ms }
    with: { index: fireline-crash-test, document: { run: "{{ run.id }}", note: contained } }
  - id: after
    uses: core.echo
    with: { message: "{{ steps.record.output.result }}" }
"""


def start_worker(address: str, task_queue: str, es_url: str, marker: Path | None) -> subprocess.Popen[str]:
    env = {**os.environ, "ELASTICSEARCH_URL": es_url}
    env.pop("CRASH_MARKER", None)
    if marker is not None:
        env["CRASH_MARKER"] = str(marker)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.crash_worker", address, task_queue],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None and "worker ready" in proc.stdout.readline()
    return proc


async def test_kill_9_mid_action_changes_the_outside_system_once(
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    elasticsearch_url: str,
    tmp_path: Path,
) -> None:
    client = temporal_env.client
    address = client.service_client.config.target_host
    marker = tmp_path / "crashed-here"
    first = start_worker(address, task_queue, elasticsearch_url, marker)
    run = await fl.start_run(client, plan_of(PLAYBOOK, registry=REGISTRY), alert(), {}, task_queue=task_queue)
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline, "the first attempt never reached the outside system"
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)  # after the write, before the report
    first.wait(10)

    second = start_worker(address, task_queue, elasticsearch_url, None)
    try:
        await client.get_workflow_handle(run.run_id).result()
        state = await fl.status(client, run.run_id)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(10)
    assert state.status is RunStatus.SUCCEEDED
    record = state.step("record")
    assert record is not None and [a.error_type for a in record.attempts] == ["Timeout", None]
    assert record.output["result"] == "noop"  # the retry found its own earlier write
    with Elasticsearch(elasticsearch_url) as es:
        es.indices.refresh(index="fireline-crash-test")
        hits = es.search(index="fireline-crash-test", query={"term": {"run.keyword": run.run_id}})
    assert hits["hits"]["total"]["value"] == 1
