"""Edit and approve from Slack: button, modal (views.open on the fake Slack API), submission, decision."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.worker import Worker

from engine import client as fl
from engine.activities.run_action import ActionRunner
from engine.worker import build_worker
from integrations.slack import blocks
from integrations.slack.client import make_client
from integrations.slack.edits import EDIT_ACTION, EDIT_CALLBACK, EDIT_LINK_ACTION
from integrations.slack.testing import (
    FakeSlack,
    block_action_payload,
    signed_request,
    view_submission_payload,
)
from tests.fixtures.actions import TEST_REGISTRY
from tests.fixtures.slack import BOT_TOKEN, EVIDENCE, RUN_URL, SIGNING_SECRET, fake_slack  # noqa: F401
from tests.integration.test_slack_interactions import kinds, post, receiver
from tests.workflow.test_approval_edits import EDITABLE_PLAYBOOK, LEAKED, SPARE, plan_of
from tests.workflow.test_playbook_run import alert, wait_for

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def worker(client: Client, task_queue: str) -> AsyncIterator[Worker]:
    async with build_worker(client, task_queue, runner=ActionRunner(TEST_REGISTRY)) as w:
        yield w


def edit_button(message: dict[str, Any]) -> dict[str, Any]:
    buttons = message["blocks"][-1]["elements"]
    return next(b for b in buttons if b["action_id"] in (EDIT_ACTION, EDIT_LINK_ACTION))


async def test_edit_and_approve_opens_a_prefilled_modal_and_the_submission_decides_with_the_edits(
    client: Client, task_queue: str, worker: Worker, fake_slack: FakeSlack
) -> None:
    run = await fl.start_run(client, plan_of(EDITABLE_PLAYBOOK), alert(), {}, task_queue=task_queue)
    state = await wait_for(client, run.run_id, lambda s: s.pending_approvals())
    record = state.pending_approvals()[0]
    assert record.approval is not None
    content = blocks.approval_message(
        run.run_id,
        "approve",
        record.approval.title,
        "",
        EVIDENCE,
        RUN_URL.format(run_id=run.run_id),
        [],
        editable=record.approval.editable,
    )
    posted = make_client(BOT_TOKEN, fake_slack.api_url).chat_postMessage(
        channel="C0INCIDENT", blocks=content, text="x"
    )
    message = fake_slack.workspace.messages["C0INCIDENT"][str(posted["ts"])]
    audit: list[dict[str, Any]] = []
    app = receiver(client, fake_slack, audit)

    button = edit_button(message)
    assert button["text"]["text"] == "Edit and approve"
    click = block_action_payload(
        button["value"],
        user="U1",
        channel="C0INCIDENT",
        message=json.loads(json.dumps(message)),
        action_id=EDIT_ACTION,
    )
    assert (await post(app, signed_request(click, SIGNING_SECRET))).status_code == 200
    [opened] = fake_slack.workspace.views
    view = opened["view"]
    assert view["callback_id"] == EDIT_CALLBACK
    field = next(b for b in view["blocks"] if b.get("block_id") == "fireline_edit:keys")
    assert json.loads(field["element"]["initial_value"]) == [LEAKED, SPARE]

    def submit(keys: str) -> Any:
        payload = view_submission_payload(view, "only the leaked one", user="U1", inputs={"keys": keys})
        return post(app, signed_request(payload, SIGNING_SECRET))

    not_json = await submit("[AKIA")
    assert not_json.json()["response_action"] == "errors"
    assert "Not JSON" in not_json.json()["errors"]["fireline_edit:keys"]
    bad = await submit('["akia-lower-case-key"]')
    assert bad.status_code == 200
    [ephemeral] = fake_slack.workspace.ephemerals
    assert ephemeral["user"] == "U1" and "edited block.keys[0]" in ephemeral["text"]
    assert (await fl.status(client, run.run_id)).pending_approvals()  # nothing decided

    await submit(json.dumps([LEAKED]))
    final = await wait_for(client, run.run_id, lambda s: s.status.value == "succeeded")
    assert final.outputs == {"blocked": [LEAKED]}
    approval = final.step("approve")
    assert approval is not None and approval.approval is not None
    assert approval.approval.edits == {"keys": [LEAKED]} and approval.approval.decided_via == "slack"
    assert approval.approval.reason == "only the leaked one"
    assert kinds(audit) == ["slack.edit_started", "slack.decision_refused", "slack.decision"]
    assert audit[-1]["edited"] == ["keys"]
    assert len(fake_slack.calls("chat.update")) == 1  # the buttons are gone


def test_values_too_big_for_a_button_link_to_the_console_instead() -> None:
    many = [f"AKIA{i:016d}" for i in range(200)]
    content = blocks.approval_message(
        "r-1", "approve", "t", "", "", "https://console/runs/r-1", [], {"keys": many}
    )
    link = edit_button({"blocks": content})
    assert link["action_id"] == EDIT_LINK_ACTION and link["url"] == "https://console/runs/r-1"
    assert "value" not in link
