"""The Elastic Security poller: a Temporal Schedule, noida-db with the sample alerts, real runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import elasticsearch
import pytest
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow

from engine.client import status
from engine.ingest.alert_log import recent_alerts
from engine.ingest.es_refs import build_es_client
from engine.ingest.poller import POLL_SCHEDULE_ID, PollReport
from engine.ingest.poller_activity import ElasticPoller, temporal_run_url
from engine.ingest.poller_schedule import build_poller_worker, ensure_poll_schedule, ingest_task_queue
from integrations.elasticsearch.sample_catalog import SAMPLE_ALERT_IDS, SampleIncident
from integrations.elasticsearch.seed import seed_sample_data
from tests.fixtures.ingest import (
    es_url,
    make_ingest,
    playbook_yaml,
    running_worker,
    unique,
    write_catalog,
)

__all__ = ["es_url"]
pytestmark = pytest.mark.integration

CRITICAL = {SampleIncident.LEAKED_API_KEY, SampleIncident.PII_EXPOSURE}


async def poll_once(client: Client, seen: int) -> PollReport:
    """Trigger the schedule and wait for that poll's result."""
    handle = client.get_schedule_handle(POLL_SCHEDULE_ID)
    await handle.trigger()
    for _ in range(200):
        actions = (await handle.describe()).info.recent_actions
        if len(actions) > seen:
            break
        await asyncio.sleep(0.05)
    action = actions[-1].action
    assert isinstance(action, ScheduleActionExecutionStartWorkflow)
    return await client.get_workflow_handle(action.workflow_id, result_type=PollReport).result()


def workflow_status(es: elasticsearch.Elasticsearch, alert_id: str) -> dict[str, object]:
    hit = es.search(index=".alerts-security.alerts-*", query={"ids": {"values": [alert_id]}})["hits"]["hits"][
        0
    ]
    return hit["_source"]  # type: ignore[no-any-return]


async def test_open_alerts_start_runs_and_are_acknowledged(
    tmp_path: Path, client: Client, task_queue: str, es_url: str
) -> None:
    await asyncio.to_thread(seed_sample_data, es_url)
    name = unique("critical-ai")
    trigger = 'any: [{source: elastic, match: {rule: "AI model *", severity: critical}}]'
    ingest = make_ingest(
        tmp_path, client, task_queue, write_catalog(tmp_path / "pb", playbook_yaml(name, trigger))
    )
    es = build_es_client(es_url)
    poller = ElasticPoller(ingest, es, run_url=temporal_run_url("http://ui.example", "default"))
    queue = ingest_task_queue(task_queue)
    async with running_worker(client, task_queue) as leftovers, build_poller_worker(client, queue, poller):
        await ensure_poll_schedule(client, task_queue=queue, every_s=3600)
        try:
            first = await poll_once(client, seen=0)
            second = await poll_once(client, seen=1)
            states = [await status(client, run_id) for run_id in first.runs]
            leftovers |= set(first.runs)
        finally:
            await client.get_schedule_handle(POLL_SCHEDULE_ID).delete()
    assert (first.seen, first.started, first.no_match, first.acknowledged) == (4, 2, 2, 2)
    assert {s.alert_id for s in states} == {SAMPLE_ALERT_IDS[i] for i in CRITICAL}
    for incident, alert_id in SAMPLE_ALERT_IDS.items():
        doc = workflow_status(es, alert_id)
        if incident in CRITICAL:
            run_id = doc["fireline.run_id"]
            assert doc["kibana.alert.workflow_status"] == "acknowledged" and run_id in first.runs
            assert doc["fireline.note"] == f"fireline: {name} run {run_id} (started)"
            assert doc["fireline.run_url"] == f"http://ui.example/namespaces/default/workflows/{run_id}"
        else:
            assert doc["kibana.alert.workflow_status"] == "open"
    # The unmatched alerts stay open for analysts, and are not logged again on every poll.
    assert (second.seen, second.started, second.no_match) == (2, 0, 2)
    logged = recent_alerts(tmp_path, 20)
    assert sorted(e.status.value for e in logged) == ["no_match", "no_match", "started", "started"]
    es.close()
