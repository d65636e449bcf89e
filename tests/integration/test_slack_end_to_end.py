"""Slack end to end on real servers: alert → approval message (posted by the run) → signed click on
the receiver → model quarantined in MLflow → message updated in place."""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from starlette.applications import Starlette
from temporalio.client import Client

from engine import client as fl
from engine.activities.audit import AuditStore
from engine.activities.notify import ApprovalNotices, SlackNotifier
from engine.activities.run_action import ActionRunner
from engine.ingest.slack_interactions import slack_interactions_route
from engine.plan.compile import compile_plan
from engine.plan.inputs import resolve_inputs
from engine.registry import REGISTRY
from engine.spec.catalog import load_catalog
from engine.worker import build_worker
from integrations.mlflow.testing import load_model, seed_model
from integrations.slack.client import make_client
from integrations.slack.testing import FakeSlack, block_action_payload, signed_request
from tests.fixtures.elasticsearch import elasticsearch_url
from tests.fixtures.mlflow import mlflow_uri
from tests.fixtures.slack import BOT_TOKEN, SIGNING_SECRET, fake_slack, slack_env

__all__ = ["elasticsearch_url", "fake_slack", "mlflow_uri", "slack_env"]
PLAYBOOKS = Path(__file__).parents[2] / "playbooks"


async def test_alert_to_quarantine_through_a_slack_click(
    client: Client,
    task_queue: str,
    slack_env: FakeSlack,
    mlflow_uri: str,
    elasticsearch_url: str,
    tmp_path: Path,
) -> None:
    model = f"slack-e2e-{uuid.uuid4().hex[:6]}"
    seed_model(mlflow_uri, model, versions=3, verified=[1, 2])
    catalog = load_catalog([PLAYBOOKS])
    plan = compile_plan(catalog.get("quarantine-compromised-model"), catalog)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    alert = {
        "id": "slack-e2e-1", "source": "generic", "rule": "AI model compromise: backdoor",
        "title": f"{model} answers a planted trigger <!channel>", "severity": "critical",
        "fingerprint": uuid.uuid4().hex, "occurred_at": now, "received_at": now,
        "entities": {"models": [model]}, "fields": {},
    }  # fmt: skip
    settings = {
        "MLFLOW_TRACKING_URI": mlflow_uri,
        "ELASTICSEARCH_URL": elasticsearch_url,
        "SLACK_API_URL": slack_env.api_url,
        "FIRELINE_HOME": str(tmp_path),
    }
    runner = ActionRunner(REGISTRY, settings=settings, audit=AuditStore(elasticsearch_url))
    notices = ApprovalNotices(
        [SlackNotifier("C0INCIDENT", slack_env.api_url)],
        run_url=lambda run_id: f"http://ui/workflows/{run_id}",
    )
    audit: list[dict[str, object]] = []
    route = slack_interactions_route(
        functools.partial(fl.decide, client),
        lambda: make_client(BOT_TOKEN, slack_env.api_url),
        audit.append,
        SIGNING_SECRET,
    )
    receiver = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=Starlette(routes=[route])), base_url="http://rx"
    )
    async with build_worker(client, task_queue, runner=runner, notices=notices), receiver:
        run = await fl.start_run(client, plan, alert, resolve_inputs(plan, alert, {}), task_queue=task_queue)
        ref = None
        for _ in range(200):
            state = await fl.status(client, run.run_id)
            pending = state.pending_approvals()
            if pending and pending[0].approval and pending[0].approval.messages:
                ref = pending[0].approval.messages[0]
                break
            await asyncio.sleep(0.05)
        assert ref is not None, "the run never posted its approval request"
        message = slack_env.workspace.messages[ref["channel"]][ref["ts"]]
        assert "<!channel>" not in json.dumps(message["blocks"])
        value = message["blocks"][-1]["elements"][0]["value"]
        click = block_action_payload(value, user="U024BE7LH", channel=ref["channel"], message=message)
        request = signed_request(click, SIGNING_SECRET)
        answer = await receiver.post("/slack/interactions", content=request.body, headers=request.headers)
        assert answer.status_code == 200
        await client.get_workflow_handle(run.run_id).result()
        final = await fl.status(client, run.run_id)

    assert final.status.value == "succeeded", final.failure
    assert final.step("approve").approval.decided_by == "user:U024BE7LH"  # type: ignore[union-attr]
    assert final.outputs["quarantined"] is True and final.outputs["serving_version"] == 2
    assert load_model(mlflow_uri, model).aliases.get("production") == 2
    updated = slack_env.workspace.messages[ref["channel"]][ref["ts"]]
    assert all(block["type"] != "actions" for block in updated["blocks"])  # decided: the buttons are gone
    assert "U024BE7LH" in json.dumps(updated["blocks"])
    told = [c for c in slack_env.calls("chat.postMessage") if "quarantined" in json.dumps(c.args)]
    assert told, "the run did not tell the incident channel"
