"""Slack approvals end to end: signed clicks on the receiver route decide real Temporal runs."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from starlette.applications import Starlette
from temporalio.client import Client
from temporalio.worker import Worker

from engine import client as fl
from engine.errors import ApprovalRefused
from engine.ingest.slack_interactions import slack_interactions_route
from engine.plan.state import Decision, StepRecord, StepStatus
from engine.stack.processes import free_port
from engine.worker import build_worker
from integrations.slack.blocks import APPROVE_ACTION, DECISION_BLOCK, REJECT_ACTION, REJECT_CALLBACK
from integrations.slack.client import make_client
from integrations.slack.testing import (
    FakeSlack,
    SignedRequest,
    block_action_payload,
    signed_request,
    view_submission_payload,
)
from tests.fixtures.slack import (  # noqa: F401
    BOT_TOKEN,
    EVIDENCE,
    SIGNING_SECRET,
    fake_slack,
    post_approval_request,
    start_pending_run,
    wait_for,
)

pytestmark = pytest.mark.integration
REMOTE = "203.0.113.7"


@pytest_asyncio.fixture
async def worker(client: Client, task_queue: str) -> AsyncIterator[Worker]:
    async with build_worker(client, task_queue) as w:
        yield w


def receiver(
    client: Client,
    fake: FakeSlack,
    audit: list[dict[str, Any]],
    *,
    clock: Callable[[], float] = time.time,
    decide: Any = None,
) -> Starlette:
    route = slack_interactions_route(
        decide or functools.partial(fl.decide, client),
        lambda: make_client(BOT_TOKEN, fake.api_url),
        audit.append,
        SIGNING_SECRET,
        clock=clock,
    )
    return Starlette(routes=[route])


async def post(app: Starlette, request: SignedRequest) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(REMOTE, 40123))
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as http:
        return await http.post("/slack/interactions", content=request.body, headers=request.headers)


def click_request(message: dict[str, Any], user: str, action_id: str = APPROVE_ACTION) -> SignedRequest:
    value = message["blocks"][-1]["elements"][0]["value"]
    payload = block_action_payload(
        value, user=user, channel="C0INCIDENT", message=json.loads(json.dumps(message)), action_id=action_id
    )
    return signed_request(payload, SIGNING_SECRET)


def kinds(audit: list[dict[str, Any]]) -> list[str]:
    return [e["kind"] for e in audit]


def assert_decided_message(fake: FakeSlack, ts: str, who: str, verb: str) -> dict[str, Any]:
    message = fake.workspace.messages["C0INCIDENT"][ts]
    assert "edited" in message
    assert all(b["type"] != "actions" for b in message["blocks"])  # the buttons are gone
    outcome = next(b for b in message["blocks"] if b.get("block_id") == DECISION_BLOCK)["text"]["text"]
    assert f"*{verb}* by <@{who}> on <!date^" in outcome
    assert EVIDENCE.replace(">", "&gt;") in json.dumps(message["blocks"])  # evidence kept
    assert "Open the run" in json.dumps(message["blocks"])
    return message


async def test_approve_click_decides_the_run_and_updates_the_message(
    client: Client, task_queue: str, worker: Worker, fake_slack: FakeSlack
) -> None:
    run_id, record = await start_pending_run(client, task_queue)
    message = post_approval_request(fake_slack, run_id, record)
    header = message["blocks"][0]["text"]["text"]
    assert header == "Quarantine fraud-scorer?"
    assert "&lt;!channel&gt;" in json.dumps(message["blocks"])  # alert text cannot ping the channel
    audit: list[dict[str, Any]] = []

    response = await post(receiver(client, fake_slack, audit), click_request(message, "U1"))

    assert response.status_code == 200
    state = await wait_for(client, run_id, lambda s: s.status.value == "succeeded")
    approval = state.step("approve")
    assert approval is not None and approval.approval is not None
    assert approval.status is StepStatus.SUCCEEDED and approval.approval.decided_by == "user:U1"
    quarantine = state.step("quarantine")
    assert quarantine is not None and quarantine.output == {"message": "quarantined by user:U1"}
    assert_decided_message(fake_slack, message["ts"], "U1", "Approved")
    assert kinds(audit) == ["slack.decision"]
    assert audit[0]["run_id"] == run_id and audit[0]["by"] == "user:U1" and audit[0]["remote_addr"] == REMOTE


async def test_a_member_of_an_approver_group_may_approve(
    client: Client, task_queue: str, worker: Worker, fake_slack: FakeSlack
) -> None:
    run_id, record = await start_pending_run(client, task_queue)
    message = post_approval_request(fake_slack, run_id, record)
    audit: list[dict[str, Any]] = []

    await post(receiver(client, fake_slack, audit), click_request(message, "U2"))  # U2 is in S0ONCALL

    state = await wait_for(client, run_id, lambda s: not s.pending_approvals())
    decided = state.step("approve")
    assert decided is not None and decided.approval is not None and decided.approval.decided_by == "user:U2"
    assert fake_slack.calls("usergroups.list") and fake_slack.calls("usergroups.users.list")
    assert set(audit[0]["groups"]) == {"S0ONCALL", "ml-oncall"}
    assert_decided_message(fake_slack, message["ts"], "U2", "Approved")


async def test_a_non_approver_is_refused_privately_and_nothing_changes(
    client: Client, task_queue: str, worker: Worker, fake_slack: FakeSlack
) -> None:
    run_id, record = await start_pending_run(client, task_queue)
    message = post_approval_request(fake_slack, run_id, record)
    before = json.dumps(message["blocks"])
    audit: list[dict[str, Any]] = []

    response = await post(
        receiver(client, fake_slack, audit), click_request(message, "U9")
    )  # a security lead

    assert response.status_code == 200
    [ephemeral] = fake_slack.workspace.ephemerals
    assert ephemeral["user"] == "U9" and ephemeral["channel"] == "C0INCIDENT"
    assert "not recorded" in ephemeral["text"] and "not an approver" in ephemeral["text"]
    assert fake_slack.calls("chat.update") == []
    assert json.dumps(fake_slack.workspace.messages["C0INCIDENT"][message["ts"]]["blocks"]) == before
    state = await fl.status(client, run_id)
    assert [r.path for r in state.pending_approvals()] == ["approve"]
    assert kinds(audit) == ["slack.decision_refused"]
    assert audit[0]["by"] == "user:U9" and "not an approver" in audit[0]["reason"]


async def test_a_second_click_after_the_decision_changes_nothing(
    client: Client, task_queue: str, worker: Worker, fake_slack: FakeSlack
) -> None:
    run_id, record = await start_pending_run(client, task_queue)
    message = post_approval_request(fake_slack, run_id, record)
    audit: list[dict[str, Any]] = []
    app = receiver(client, fake_slack, audit)
    stale = click_request(message, "U2")  # U2 still sees the buttons
    await post(app, click_request(message, "U1"))
    first = await wait_for(client, run_id, lambda s: not s.pending_approvals())

    await post(app, stale)

    [ephemeral] = fake_slack.workspace.ephemerals
    assert ephemeral["user"] == "U2" and "Already approved by <@U1> at " in ephemeral["text"]
    assert len(fake_slack.calls("chat.update")) == 1
    after = await fl.status(client, run_id)
    assert after.step("approve") == first.step("approve")
    assert kinds(audit) == ["slack.decision", "slack.decision_refused"]


async def test_reject_opens_a_modal_and_its_submission_rejects_with_the_reason(
    client: Client, task_queue: str, worker: Worker, fake_slack: FakeSlack
) -> None:
    run_id, record = await start_pending_run(client, task_queue)
    message = post_approval_request(fake_slack, run_id, record)
    audit: list[dict[str, Any]] = []
    app = receiver(client, fake_slack, audit)

    response = await post(app, click_request(message, "U1", REJECT_ACTION))

    assert response.status_code == 200
    [opened] = fake_slack.workspace.views
    view = opened["view"]
    assert view["callback_id"] == REJECT_CALLBACK and opened["trigger_id"]
    assert json.loads(view["private_metadata"])["run_id"] == run_id
    assert (await fl.status(client, run_id)).pending_approvals()  # nothing decided yet

    empty = await post(app, signed_request(view_submission_payload(view, "   ", user="U1"), SIGNING_SECRET))
    assert empty.json()["response_action"] == "errors"  # the modal stays open and asks for a reason
    reason = "False positive: <b>red team</b> exercise"
    done = await post(app, signed_request(view_submission_payload(view, reason, user="U1"), SIGNING_SECRET))

    assert done.status_code == 200 and done.content == b""
    state = await wait_for(client, run_id, lambda s: s.status.value == "succeeded")
    rejected = state.step("approve")
    assert rejected is not None and rejected.approval is not None
    assert rejected.status is StepStatus.REJECTED and rejected.approval.reason == reason
    skipped = state.step("quarantine")
    assert skipped is not None and skipped.status is StepStatus.SKIPPED
    updated = assert_decided_message(fake_slack, message["ts"], "U1", "Rejected")
    assert "&lt;b&gt;red team&lt;/b&gt;" in json.dumps(updated["blocks"])
    assert kinds(audit) == ["slack.reject_started", "slack.decision"]


async def test_a_rejection_by_a_non_approver_is_refused(
    client: Client, task_queue: str, worker: Worker, fake_slack: FakeSlack
) -> None:
    run_id, record = await start_pending_run(client, task_queue)
    message = post_approval_request(fake_slack, run_id, record)
    audit: list[dict[str, Any]] = []
    app = receiver(client, fake_slack, audit)
    await post(app, click_request(message, "U5", REJECT_ACTION))
    view = fake_slack.workspace.views[0]["view"]

    await post(app, signed_request(view_submission_payload(view, "I say no", user="U5"), SIGNING_SECRET))

    assert "not an approver" in fake_slack.workspace.ephemerals[0]["text"]
    assert (await fl.status(client, run_id)).pending_approvals()
    assert fake_slack.calls("chat.update") == []


def _forged(payload: dict[str, Any]) -> SignedRequest:
    return signed_request(payload, "not-the-secret")


def _stale(payload: dict[str, Any]) -> SignedRequest:
    return signed_request(payload, SIGNING_SECRET, timestamp=int(time.time()) - 301)


def _tampered(payload: dict[str, Any]) -> SignedRequest:
    good = signed_request(payload, SIGNING_SECRET)
    return SignedRequest(body=good.body.replace(b"U1", b"U2"), headers=good.headers)


def _unsigned(payload: dict[str, Any]) -> SignedRequest:
    good = signed_request(payload, SIGNING_SECRET)
    return SignedRequest(body=good.body, headers={"Content-Type": good.headers["Content-Type"]})


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_forged, "signature does not match"),
        (_tampered, "signature does not match"),
        (_stale, "outside the 5-minute window"),
        (_unsigned, "missing Slack signature"),
    ],
)
async def test_forged_tampered_stale_and_unsigned_requests_get_401_and_are_audited(
    client: Client, fake_slack: FakeSlack, make: Callable[[dict[str, Any]], SignedRequest], reason: str
) -> None:
    decisions: list[Any] = []

    async def decide(*args: Any, **kwargs: Any) -> StepRecord:
        decisions.append(args)
        raise AssertionError("must not be called")

    audit: list[dict[str, Any]] = []
    message = {"ts": "1.000001", "blocks": []}
    value = json.dumps({"run_id": "r", "step": "approve"})
    request = make(block_action_payload(value, user="U1", channel="C0INCIDENT", message=message))

    response = await post(receiver(client, fake_slack, audit, decide=decide), request)

    assert response.status_code == 401 and reason in response.json()["error"]
    assert decisions == [] and fake_slack.calls() == []
    [event] = audit
    assert event["kind"] == "slack.request_refused" and reason in event["reason"]
    assert event["remote_addr"] == REMOTE and event["path"] == "/slack/interactions"
    assert SIGNING_SECRET not in json.dumps(audit)


async def test_a_replayed_request_gets_401_and_is_audited(
    client: Client, task_queue: str, worker: Worker, fake_slack: FakeSlack
) -> None:
    run_id, record = await start_pending_run(client, task_queue)
    message = post_approval_request(fake_slack, run_id, record)
    audit: list[dict[str, Any]] = []
    app = receiver(client, fake_slack, audit)
    request = click_request(message, "U1")

    assert (await post(app, request)).status_code == 200
    replay = await post(app, request)

    assert replay.status_code == 401 and "replay" in replay.json()["error"]
    assert kinds(audit) == ["slack.decision", "slack.request_refused"]
    assert audit[1]["verdict"] == "replayed"
    assert len(fake_slack.calls("chat.update")) == 1


async def test_a_request_from_the_future_or_with_an_old_clock_is_stale(
    client: Client, fake_slack: FakeSlack
) -> None:
    audit: list[dict[str, Any]] = []
    app = receiver(client, fake_slack, audit, clock=lambda: time.time() + 3600)
    request = signed_request({"type": "block_actions"}, SIGNING_SECRET)
    response = await post(app, request)
    assert response.status_code == 401 and audit[0]["verdict"] == "stale"


async def test_the_click_is_acknowledged_before_the_decision_is_made(
    client: Client, fake_slack: FakeSlack
) -> None:
    release = asyncio.Event()
    decided: list[tuple[str, str, Decision, str]] = []

    async def slow_decide(run_id: str, step: str, decision: Decision, by: str, **kwargs: Any) -> StepRecord:
        await release.wait()  # Temporal being slow must not delay Slack's answer
        decided.append((run_id, step, decision, by))
        raise ApprovalRefused("approve was already rejected by user:U7 at 2026-11-20T08:20:00Z via cli")

    audit: list[dict[str, Any]] = []
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            receiver(client, fake_slack, audit, decide=slow_decide), port=port, log_level="warning"
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        value = json.dumps({"run_id": "r-1", "step": "approve"})
        request = click_request(
            {"ts": "1.000001", "blocks": [{"type": "actions", "elements": [{"value": value}]}]}, "U1"
        )
        async with httpx.AsyncClient() as http:
            started = time.monotonic()
            response = await http.post(
                f"http://127.0.0.1:{port}/slack/interactions", content=request.body, headers=request.headers
            )
            assert response.status_code == 200 and time.monotonic() - started < 1.0
        assert decided == []
        release.set()
        for _ in range(500):
            if fake_slack.workspace.ephemerals:
                break
            await asyncio.sleep(0.01)
        assert decided == [("r-1", "approve", Decision.APPROVE, "user:U1")]
        assert (
            "Already rejected by <@U7> at 2026-11-20 08:20 UTC" in fake_slack.workspace.ephemerals[0]["text"]
        )
    finally:
        server.should_exit = True
        await serving
