"""Approval requests reach Slack by themselves and are updated in place whoever decides."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.worker import Worker

from engine import client as fl
from engine.activities.notify import ApprovalNotices, SlackNotifier
from engine.plan.state import Decision
from engine.serve import approval_notices
from engine.settings import Settings, SlackSettings, TemporalSettings
from engine.worker import build_worker
from integrations.slack.testing import FakeSlack
from tests.fixtures.slack import BOT_TOKEN, approval_plan, fake_slack, slack_env, wait_for  # noqa: F401
from tests.fixtures.slack import alert as slack_alert


@pytest_asyncio.fixture
async def notifying_worker(
    client: Client, task_queue: str, slack_env: FakeSlack, tmp_path: Path
) -> AsyncIterator[Worker]:
    # As a deployment configures it: Slack settings and the Web UI address the messages link to.
    settings = Settings(
        home=tmp_path,
        slack=SlackSettings(
            bot_token=SecretStr(BOT_TOKEN), approvals_channel="C0INCIDENT", api_url=slack_env.api_url
        ),
        temporal=TemporalSettings(web_ui_url="http://ui.example/", namespace="default"),
    )
    async with build_worker(client, task_queue, notices=approval_notices(settings)) as worker:
        yield worker


def texts(message: dict[str, object]) -> str:
    return json.dumps(message.get("blocks", []))


async def test_request_posted_then_updated_after_a_cli_decision(
    client: Client, task_queue: str, notifying_worker: Worker, slack_env: FakeSlack
) -> None:
    run = await fl.start_run(client, approval_plan(), slack_alert(), {}, task_queue=task_queue)
    state = await wait_for(
        client,
        run.run_id,
        lambda s: bool(s.pending_approvals() and s.pending_approvals()[0].approval.messages),
    )  # type: ignore[union-attr]
    pending = state.pending_approvals()[0]
    assert pending.approval is not None
    ref = pending.approval.messages[0]
    message = slack_env.workspace.messages["C0INCIDENT"][ref["ts"]]
    blocks = texts(message)
    assert "fireline_approve" in blocks and "fireline_reject" in blocks
    assert "Quarantine fraud-scorer?" in blocks
    assert "<!channel>" not in blocks  # the alert's hostile title is escaped
    # the message links to the run in the Temporal Web UI
    assert f"<http://ui.example/namespaces/default/workflows/{run.run_id}|Open the run>" in blocks

    await fl.decide(client, run.run_id, "approve", Decision.APPROVE, "user:U1")
    await client.get_workflow_handle(run.run_id).result()
    updated = texts(slack_env.workspace.messages["C0INCIDENT"][ref["ts"]])
    assert "fireline_approve" not in updated and "fireline_reject" not in updated
    assert "U1" in updated


async def test_slack_down_does_not_stop_the_run(
    client: Client, task_queue: str, slack_env: FakeSlack
) -> None:
    notices = ApprovalNotices([SlackNotifier("C-does-not-exist", slack_env.api_url)])
    async with build_worker(client, task_queue, notices=notices):
        run = await fl.start_run(client, approval_plan(), slack_alert(), {}, task_queue=task_queue)
        state = await wait_for(client, run.run_id, lambda s: bool(s.pending_approvals()), timeout=30)
        assert state.pending_approvals()[0].approval.messages == []  # type: ignore[union-attr]
        await fl.decide(client, run.run_id, "approve", Decision.APPROVE, "user:U1")
        await client.get_workflow_handle(run.run_id).result()
        final = await fl.status(client, run.run_id)
    assert final.status.value == "succeeded"
    assert BOT_TOKEN not in final.model_dump_json()
