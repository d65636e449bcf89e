"""Socket Mode and the dispatcher both paths share: envelopes from the fake Slack decide real runs."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.worker import Worker

from engine import client as fl
from engine.errors import ConfigError, RunNotFound
from engine.ingest.slack_dispatch import SlackInteractionDispatcher
from engine.ingest.slack_socket import SlackSocketMode
from engine.plan.state import StepRecord
from engine.worker import build_worker
from integrations.slack.blocks import REJECT_ACTION
from integrations.slack.client import make_client
from integrations.slack.testing import FakeSlack, block_action_payload, view_submission_payload
from tests.fixtures.slack import (  # noqa: F401
    APP_TOKEN,
    BOT_TOKEN,
    fake_slack,
    post_approval_request,
    start_pending_run,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def worker(client: Client, task_queue: str) -> AsyncIterator[Worker]:
    async with build_worker(client, task_queue) as w:
        yield w


def dispatcher(
    client: Client, fake: FakeSlack, audit: list[dict[str, Any]], decide: Any = None
) -> SlackInteractionDispatcher:
    return SlackInteractionDispatcher(
        decide or functools.partial(fl.decide, client),
        lambda: make_client(BOT_TOKEN, fake.api_url),
        audit.append,
    )


def click(message: dict[str, Any], user: str, action_id: str = "fireline_approve") -> dict[str, Any]:
    value = message["blocks"][-1]["elements"][0]["value"]
    return block_action_payload(
        value, user=user, channel="C0INCIDENT", message=json.loads(json.dumps(message)), action_id=action_id
    )


async def eventually(predicate: Any, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)


async def test_socket_mode_acks_envelopes_and_decides_the_run(
    client: Client, task_queue: str, worker: Worker, fake_slack: FakeSlack
) -> None:
    run_id, record = await start_pending_run(client, task_queue)
    message = post_approval_request(fake_slack, run_id, record)
    audit: list[dict[str, Any]] = []
    socket_mode = SlackSocketMode(
        dispatcher(client, fake_slack, audit), APP_TOKEN, make_client(BOT_TOKEN, fake_slack.api_url)
    )
    await socket_mode.start()
    try:
        server = fake_slack.socket_mode
        assert await asyncio.to_thread(server.wait_connected)
        assert fake_slack.calls("apps.connections.open")

        envelope = server.send("interactive", click(message, "U2"))
        ack = await asyncio.to_thread(server.wait_ack, envelope)
        assert ack == {"envelope_id": envelope}

        state = await wait_for(client, run_id, lambda s: s.status.value == "succeeded")
        decided = state.step("approve")
        assert (
            decided is not None and decided.approval is not None and decided.approval.decided_by == "user:U2"
        )
        await eventually(lambda: fake_slack.calls("chat.update"))
        updated = fake_slack.workspace.messages["C0INCIDENT"][message["ts"]]
        assert all(b["type"] != "actions" for b in updated["blocks"])

        # An empty reason in the reject modal is answered in the ack itself, and nothing is decided.
        view = {"id": "V1", "callback_id": "fireline_reject_reason", "private_metadata": "{}"}
        envelope = server.send("interactive", view_submission_payload(view, "", user="U1"))
        ack = await asyncio.to_thread(server.wait_ack, envelope)
        assert ack is not None and ack["payload"]["response_action"] == "errors"
    finally:
        await socket_mode.stop()
    assert [e["kind"] for e in audit] == ["slack.decision"]
    assert audit[0]["remote_addr"] == "socket-mode"


def test_socket_mode_needs_an_app_level_token(client: Client, fake_slack: FakeSlack) -> None:
    with pytest.raises(ConfigError, match="xapp-"):
        SlackSocketMode(
            dispatcher(client, fake_slack, []), BOT_TOKEN, make_client(BOT_TOKEN, fake_slack.api_url)
        )


async def test_reject_click_through_the_dispatcher_opens_the_modal(
    client: Client, task_queue: str, worker: Worker, fake_slack: FakeSlack
) -> None:
    run_id, record = await start_pending_run(client, task_queue)
    message = post_approval_request(fake_slack, run_id, record)
    audit: list[dict[str, Any]] = []
    shared = dispatcher(client, fake_slack, audit)

    assert shared.acknowledge(click(message, "U1", REJECT_ACTION)) is None
    await shared.process(click(message, "U1", REJECT_ACTION))
    view = fake_slack.workspace.views[0]["view"]
    assert "Quarantine fraud-scorer?" in view["blocks"][0]["text"]["text"]

    await shared.process(view_submission_payload(view, "known scanner", user="U3"))  # U3 is in S0ONCALL

    state = await wait_for(client, run_id, lambda s: s.status.value == "succeeded")
    rejected = state.step("approve")
    assert rejected is not None and rejected.approval is not None
    assert rejected.approval.reason == "known scanner" and rejected.approval.decided_by == "user:U3"


async def test_when_temporal_cannot_take_the_decision_the_user_is_told(
    client: Client, fake_slack: FakeSlack
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> StepRecord:
        raise ConnectionError("temporal is down")

    audit: list[dict[str, Any]] = []
    message = {
        "ts": "1.000001",
        "blocks": [{"type": "actions", "elements": [{"value": '{"run_id": "r", "step": "approve"}'}]}],
    }

    await dispatcher(client, fake_slack, audit, decide=broken).process(click(message, "U1"))

    assert "could not be recorded" in fake_slack.workspace.ephemerals[0]["text"]
    assert [e["kind"] for e in audit] == ["slack.decision_failed"]
    assert fake_slack.calls("chat.update") == []


async def test_a_run_that_no_longer_exists_is_reported(client: Client, fake_slack: FakeSlack) -> None:
    audit: list[dict[str, Any]] = []
    message = {
        "ts": "1.000001",
        "blocks": [{"type": "actions", "elements": [{"value": '{"run_id": "gone", "step": "approve"}'}]}],
    }

    async def missing(*args: Any, **kwargs: Any) -> StepRecord:
        raise RunNotFound("no run 'gone'")

    await dispatcher(client, fake_slack, audit, decide=missing).process(click(message, "U1"))
    assert "no longer open" in fake_slack.workspace.ephemerals[0]["text"]
    assert audit[0]["kind"] == "slack.decision_refused"


@pytest.mark.parametrize(
    "payload",
    [
        {
            "type": "block_actions",
            "user": {"id": "U1"},
            "actions": [{"action_id": "fireline_approve", "value": "{not json"}],
        },
        {"type": "block_actions", "user": "not a mapping"},
        {
            "type": "view_submission",
            "user": {"id": "U1"},
            "view": {
                "callback_id": "fireline_reject_reason",
                "private_metadata": "[]",
                "state": {"values": {"fireline_reason": {"reason": {"value": "x"}}}},
            },
        },
        {
            "type": "block_actions",
            "user": {"id": "U1"},
            "actions": [{"action_id": "someone_elses_button", "value": "1"}],
        },
        {"type": "shortcut", "callback_id": "x"},
    ],
)
async def test_unreadable_or_foreign_payloads_change_nothing(
    client: Client, fake_slack: FakeSlack, payload: dict[str, Any]
) -> None:
    decided: list[Any] = []

    async def decide(*args: Any, **kwargs: Any) -> StepRecord:
        decided.append(args)
        raise AssertionError("must not be called")

    audit: list[dict[str, Any]] = []
    await dispatcher(client, fake_slack, audit, decide=decide).process(payload)
    assert decided == [] and fake_slack.workspace.ephemerals == []
    assert all(e["kind"] == "slack.ignored" for e in audit)


async def test_a_failing_or_async_audit_sink_never_breaks_the_response(
    client: Client, fake_slack: FakeSlack
) -> None:
    seen: list[dict[str, Any]] = []

    async def async_sink(event: dict[str, Any]) -> None:
        seen.append(event)

    def broken_sink(event: dict[str, Any]) -> None:
        raise OSError("disk full")

    payload = {
        "type": "block_actions",
        "user": {"id": "U1"},
        "actions": [{"action_id": "fireline_approve", "value": "x"}],
    }
    for sink in (async_sink, broken_sink):
        shared = SlackInteractionDispatcher(
            functools.partial(fl.decide, client), lambda: make_client(BOT_TOKEN, fake_slack.api_url), sink
        )
        await shared.process(payload)
    assert [e["kind"] for e in seen] == ["slack.ignored"]
