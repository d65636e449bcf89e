"""A playbook with Slack steps on a real Temporal worker: alert → messages → approval click → thread reply."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from temporalio.client import Client
from temporalio.worker import Worker

from engine import client as fl
from engine.ingest.slack_interactions import slack_interactions_route
from engine.plan.compile import compile_plan
from engine.plan.state import StepStatus
from engine.spec.catalog import validate_text
from engine.worker import build_worker
from integrations.slack.client import make_client
from integrations.slack.testing import FakeSlack, block_action_payload, signed_request
from tests.fixtures.slack import (  # noqa: F401
    BOT_TOKEN,
    SIGNING_SECRET,
    alert,
    fake_slack,
    post_approval_request,
    slack_env,
    wait_for,
)

pytestmark = pytest.mark.integration

PLAYBOOK = """\
apiVersion: fireline/v1
kind: Playbook
metadata: { name: slack-steps, version: 1 }
steps:
  - id: announce
    uses: slack.post_message
    with:
      channel: "#ai-incidents"
      template: incident
      vars:
        title: "{{ alert.title }}"
        severity: "{{ alert.severity }}"
        summary: "Model {{ alert.entities.models[0] }} is under attack"
  - id: wrong_channel
    uses: slack.post_message
    on_error: continue
    retry: { attempts: 3, initial: 1s }
    with: { channel: "#nowhere", text: "lost" }
  - id: approve
    approval:
      title: "Quarantine {{ alert.entities.models[0] }}?"
      approvers: [user:U1, group:S0ONCALL]
      timeout: 1h
  - id: quarantine
    if: steps.approve.approved
    uses: core.echo
    with: { message: "{{ alert.entities.models[0] }} quarantined" }
  - id: tell
    uses: slack.post_message
    with:
      channel: "#ai-incidents"
      thread_ts: "{{ steps.announce.output.ts }}"
      text: "{{ steps.quarantine.output.message }} (approved by {{ steps.approve.decided_by }})"
"""


@pytest_asyncio.fixture
async def worker(client: Client, task_queue: str, slack_env: FakeSlack) -> AsyncIterator[Worker]:
    async with build_worker(client, task_queue) as w:
        yield w


async def test_alert_to_quarantine_with_slack_messages_and_a_click(
    client: Client, task_queue: str, worker: Worker, fake_slack: FakeSlack
) -> None:
    entry = validate_text(PLAYBOOK, "slack-steps.yaml")
    assert entry.diagnostics == [], [d.render() for d in entry.diagnostics]
    run = await fl.start_run(client, compile_plan(entry), alert(), {}, task_queue=task_queue)

    state = await wait_for(client, run.run_id, lambda s: bool(s.pending_approvals()))
    announce = state.step("announce")
    assert announce is not None and announce.status is StepStatus.SUCCEEDED
    wrong = state.step("wrong_channel")
    assert wrong is not None and wrong.status is StepStatus.FAILED
    assert (wrong.error_type, len(wrong.attempts)) == ("ChannelNotFound", 1)  # not retried
    assert wrong.error is not None and "channel_not_found" in wrong.error and BOT_TOKEN not in wrong.error

    message = post_approval_request(fake_slack, run.run_id, state.pending_approvals()[0])
    audit: list[dict[str, Any]] = []
    route = slack_interactions_route(
        functools.partial(fl.decide, client),
        lambda: make_client(BOT_TOKEN, fake_slack.api_url),
        audit.append,
        SIGNING_SECRET,
    )
    value = message["blocks"][-1]["elements"][0]["value"]
    payload = block_action_payload(
        value, user="U1", channel="C0INCIDENT", message=json.loads(json.dumps(message))
    )
    request = signed_request(payload, SIGNING_SECRET)
    transport = httpx.ASGITransport(app=Starlette(routes=[route]))
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as http:
        response = await http.post("/slack/interactions", content=request.body, headers=request.headers)
    assert response.status_code == 200

    final = await wait_for(client, run.run_id, lambda s: s.status.value == "succeeded")
    assert [s.status.value for s in final.steps] == [
        "succeeded",
        "failed",
        "succeeded",
        "succeeded",
        "succeeded",
    ]
    incident = fake_slack.workspace.messages["C0INCIDENT"][announce.output["ts"]]
    assert incident["blocks"][0]["text"]["text"] == "Injection &lt;!channel&gt; on fraud-scorer"
    reply = fake_slack.workspace.messages["C0INCIDENT"][final.steps[-1].output["ts"]]
    assert reply["thread_ts"] == announce.output["ts"]
    assert reply["text"] == "fraud-scorer quarantined (approved by user:U1)"
    updated = fake_slack.workspace.messages["C0INCIDENT"][message["ts"]]
    assert all(b["type"] != "actions" for b in updated["blocks"])
