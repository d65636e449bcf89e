"""Every run's trail lands in fireline-audit-* and `fireline audit verify` proves it whole."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from elasticsearch import Elasticsearch
from temporalio.client import Client

from engine import client as fl
from engine.activities.audit import AUDIT_INDEX_PATTERN, AuditStore
from engine.activities.run_action import ActionRunner
from engine.plan.audit import verify_chain
from engine.plan.state import Decision
from engine.stack.processes import free_port
from engine.worker import build_worker
from tests.fixtures.actions import TEST_REGISTRY
from tests.fixtures.elasticsearch import elasticsearch_url  # noqa: F401
from tests.workflow.test_playbook_run import APPROVAL_PLAYBOOK, alert, plan_of, wait_for

ROOT = Path(__file__).parents[2]


def verify_cli(es_url: str, run_id: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ELASTICSEARCH_URL": es_url}
    return subprocess.run(
        [sys.executable, "-m", "engine.cli.entry", "audit", "verify", run_id],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


async def test_trail_is_stored_verified_and_tampering_is_named(
    client: Client,
    task_queue: str,
    elasticsearch_url: str,
) -> None:
    store = AuditStore(elasticsearch_url)
    runner = ActionRunner(TEST_REGISTRY, audit=store)
    async with build_worker(client, task_queue, runner=runner):
        run = await fl.start_run(client, plan_of(APPROVAL_PLAYBOOK), alert(), {}, task_queue=task_queue)
        await wait_for(client, run.run_id, lambda s: s.pending_approvals())
        await fl.decide(client, run.run_id, "approve", Decision.APPROVE, "user:U1", reason="clear evidence")
        await client.get_workflow_handle(run.run_id).result()

    events = store.read(run.run_id)
    report = verify_chain(run.run_id, events)
    assert report.ok, report
    actions = [e.action for e in events]
    assert actions[0] == "run.started" and actions[-1] == "run.finished"
    assert {"approval.requested", "approval.decided", "step.started", "step.finished"} <= set(actions)
    decided = next(e for e in events if e.action == "approval.decided")
    assert decided.actor == "user:U1" and decided.detail == {"reason": "clear evidence", "via": "cli"}

    with Elasticsearch(elasticsearch_url) as es:
        hits = es.search(index=AUDIT_INDEX_PATTERN, query={"term": {"fireline.run.id": run.run_id}}, size=100)
        doc = hits["hits"]["hits"][0]["_source"]
        assert doc["event"]["module"] == "fireline" and "@timestamp" in doc  # ECS shape

    done = verify_cli(elasticsearch_url, run.run_id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"ok: {len(events)} audit events")

    # someone rewrites who approved, directly in the index
    with Elasticsearch(elasticsearch_url) as es:
        hit = es.search(
            index=AUDIT_INDEX_PATTERN,
            query={
                "bool": {
                    "filter": [
                        {"term": {"fireline.run.id": run.run_id}},
                        {"term": {"event.action": "approval.decided"}},
                    ]
                }
            },
        )["hits"]["hits"][0]
        source = hit["_source"]
        source["fireline"]["event"]["actor"] = "user:mallory"
        es.index(index=hit["_index"], id=hit["_id"], document=source, refresh=True)
    done = verify_cli(elasticsearch_url, run.run_id)
    assert done.returncode == 1
    assert f"BROKEN at event {decided.seq}: event {decided.seq} was altered" in done.stdout


async def test_large_results_are_capped_in_history_and_kept_by_reference(
    client: Client,
    task_queue: str,
    elasticsearch_url: str,
) -> None:
    runner = ActionRunner(TEST_REGISTRY, audit=AuditStore(elasticsearch_url), output_cap_bytes=4096)
    plan = plan_of(
        """\
        metadata: { name: big-search, version: 1 }
        steps:
          - id: search
            uses: test.big
            with: { rows: 2000 }
          - id: use
            uses: core.echo
            with:
              message: "{{ steps.search.output.total }} hits, truncated={{ steps.search.output.truncated }}"
        """
    )
    async with build_worker(client, task_queue, runner=runner):
        run = await fl.start_run(client, plan, alert(), {}, task_queue=task_queue)
        await client.get_workflow_handle(run.run_id).result()
        state = await fl.status(client, run.run_id)
        history = await client.get_workflow_handle(run.run_id).fetch_history()
    output = state.step("search").output  # type: ignore[union-attr]
    assert output["truncated"] is True and output["total"] == 2000 and output["total_bytes"] > 200_000
    assert state.step("use").output == {"message": "2000 hits, truncated=True"}  # type: ignore[union-attr]
    assert sum(len(e.SerializeToString()) for e in history.events) < 100_000
    ref = output["full_result"]
    with Elasticsearch(elasticsearch_url) as es:
        kept = es.get(index=ref["index"], id=ref["id"])["_source"]["result"]
    assert len(kept["hits"]) == 2000 and kept["hits"][1999]["n"] == 1999


async def test_a_trail_the_worker_never_wrote_is_written_by_the_next_worker_from_history(
    client: Client,
    task_queue: str,
    elasticsearch_url: str,
) -> None:
    store = AuditStore(elasticsearch_url)
    unreachable = AuditStore(f"http://127.0.0.1:{free_port()}")  # the first worker's writes never land
    first = build_worker(client, task_queue, runner=ActionRunner(TEST_REGISTRY, audit=unreachable))
    async with first:
        run = await fl.start_run(client, plan_of(APPROVAL_PLAYBOOK), alert(), {}, task_queue=task_queue)
        await wait_for(client, run.run_id, lambda s: s.pending_approvals())
        assert first.relay is not None and first.relay.running()  # retrying the missing Elasticsearch
    assert store.stored_seqs(run.run_id) == set()  # that worker is gone and wrote nothing
    assert not first.relay.running()  # and stopped retrying with it

    async with build_worker(client, task_queue, runner=ActionRunner(TEST_REGISTRY, audit=store)):
        await fl.decide(client, run.run_id, "approve", Decision.APPROVE, "user:U1")
        await client.get_workflow_handle(run.run_id).result()
        events = store.read(run.run_id)  # while the worker still runs: the end waited for the trail

    report = verify_chain(run.run_id, events)
    assert report.ok and report.forks == 0, report
    actions = [e.action for e in events]
    assert actions[:2] == ["run.started", "step.started"] and actions[-1] == "run.finished"
    assert actions.count("approval.requested") == 1 and actions.count("approval.decided") == 1
