"""Slack actions against the fake Slack Web API server: happy paths, Slack's errors, 429s."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from engine.errors import ActionError
from engine.registry import REGISTRY
from engine.sdk import ActionContext
from engine.stack.processes import free_port
from integrations.slack import actions
from integrations.slack.models import (
    CreateChannelParams,
    PostMessageParams,
    UpdateMessageParams,
    UploadFileParams,
)
from integrations.slack.testing import FakeSlack
from tests.fixtures.slack import BOT_TOKEN, fake_slack  # noqa: F401

pytestmark = pytest.mark.integration
HOSTILE = 'Bad "model"}\n]}, {{ 7*7 }} <!channel> & <https://evil.example|click>'


def ctx(fake: FakeSlack, token: str = BOT_TOKEN, **settings: Any) -> ActionContext:
    return ActionContext(
        run_id="run-1",
        workflow_id="run-1",
        playbook="pb",
        step_path="notify",
        attempt=1,
        idempotency_key="run-1:notify",
        secrets={"SLACK_BOT_TOKEN": token},
        settings={"SLACK_API_URL": fake.api_url, **settings},
    )


def messages(fake: FakeSlack, channel: str = "C0INCIDENT") -> list[dict[str, Any]]:
    return list(fake.workspace.messages[channel].values())


def test_actions_are_registered_with_the_bot_token_secret() -> None:
    for name in (
        "slack.post_message",
        "slack.update_message",
        "slack.create_incident_channel",
        "slack.upload_file",
    ):
        assert REGISTRY.get(name).secrets == ("SLACK_BOT_TOKEN",)


def test_post_message_text_by_channel_name_escapes_mentions(fake_slack: FakeSlack) -> None:
    out = actions.post_message(ctx(fake_slack), PostMessageParams(channel="#ai-incidents", text=HOSTILE))
    assert out["channel"] == "C0INCIDENT"
    [message] = messages(fake_slack)
    assert message["ts"] == out["ts"]
    assert "<!channel>" not in message["text"] and "&lt;!channel&gt;" in message["text"]
    call = fake_slack.calls("chat.postMessage")[0]
    assert call.args["unfurl_links"] is False


def test_post_message_in_a_thread_with_blocks(fake_slack: FakeSlack) -> None:
    first = actions.post_message(
        ctx(fake_slack), PostMessageParams(channel="C0INCIDENT", text="incident opened")
    )
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*step* done"}}]
    reply = actions.post_message(
        ctx(fake_slack), PostMessageParams(channel="C0INCIDENT", blocks=blocks, thread_ts=first["ts"])
    )
    stored = fake_slack.workspace.messages["C0INCIDENT"][reply["ts"]]
    assert stored["thread_ts"] == first["ts"]
    assert stored["blocks"] == blocks
    assert stored["text"] == "*step* done"  # notification fallback from the first block


def test_template_renders_block_kit_and_hostile_values_stay_data(fake_slack: FakeSlack) -> None:
    params = PostMessageParams(
        channel="C0INCIDENT",
        template="incident",
        vars={
            "title": HOSTILE,
            "severity": "high",
            "summary": "line one\nline two",
            "run_url": "http://127.0.0.1:8787/runs/r1?tab=timeline&x=1",
            "fields": {"model": "fraud-scorer", 'key"': HOSTILE},
        },
    )
    actions.post_message(ctx(fake_slack), params)
    [message] = messages(fake_slack)
    header, summary, fields, buttons = message["blocks"]
    assert header["text"]["text"].startswith(
        'Bad "model"}\n]}, {{ 7*7 }} &lt;!channel&gt; &amp; &lt;https://'
    )
    assert summary["text"]["text"] == "*Severity:* high\nline one\nline two"
    assert fields["fields"][1]["text"].startswith('*key"*\nBad "model"}')
    assert buttons["elements"][0]["url"] == "http://127.0.0.1:8787/runs/r1?tab=timeline&x=1"
    assert message["text"].startswith("[high] Bad")
    assert "49" not in json.dumps(message)


@pytest.mark.parametrize(
    ("template", "variables", "message"),
    [
        ("no-such-template", {}, "no Slack template"),
        ("../secrets", {}, "must match"),
        ("notice", {}, "undefined"),
    ],
)
def test_template_problems_fail_the_step_at_once(
    fake_slack: FakeSlack, template: str, variables: dict[str, Any], message: str
) -> None:
    with pytest.raises(ActionError, match=message) as caught:
        actions.post_message(
            ctx(fake_slack), PostMessageParams(channel="C0INCIDENT", template=template, vars=variables)
        )
    assert caught.value.retryable is False
    assert fake_slack.calls("chat.postMessage") == []


def test_a_template_that_is_not_json_names_the_place(fake_slack: FakeSlack, tmp_path: Any) -> None:
    (tmp_path / "broken.j2").write_text('{"blocks": [ {{ text }} ]}')
    with pytest.raises(ActionError, match=r"did not produce JSON \(line 1"):
        actions.post_message(
            ctx(fake_slack, SLACK_TEMPLATES_DIR=str(tmp_path)),
            PostMessageParams(channel="C0INCIDENT", template="broken", vars={"text": "x"}),
        )


def test_update_message_replaces_the_content(fake_slack: FakeSlack) -> None:
    posted = actions.post_message(ctx(fake_slack), PostMessageParams(channel="C0INCIDENT", text="running"))
    out = actions.update_message(
        ctx(fake_slack),
        UpdateMessageParams(
            channel="C0INCIDENT", ts=posted["ts"], template="notice", vars={"text": "contained"}
        ),
    )
    assert out == {"channel": "C0INCIDENT", "ts": posted["ts"]}
    [message] = messages(fake_slack)
    assert message["text"] == "contained" and message["blocks"][0]["text"]["text"] == "contained"
    assert "edited" in message


def test_create_incident_channel_sets_topic_invites_oncall_and_is_idempotent(fake_slack: FakeSlack) -> None:
    params = CreateChannelParams(
        name="Incident 42: Fraud-Scorer!",
        topic="Quarantine of fraud-scorer",
        oncall_group="@ml-oncall",
        members=["U7"],
    )
    first = actions.create_incident_channel(ctx(fake_slack), params)
    assert first["name"] == "incident-42-fraud-scorer" and first["created"] is True
    assert first["invited"] == ["U2", "U3", "U7"]
    channel = fake_slack.workspace.channels[first["channel"]]
    assert channel.topic == "Quarantine of fraud-scorer"
    assert {"U2", "U3", "U7", "UBOT"} <= channel.members

    again = actions.create_incident_channel(ctx(fake_slack), params)
    assert again["channel"] == first["channel"] and again["created"] is False
    assert [c.error for c in fake_slack.calls("conversations.create")] == [None, "name_taken"]
    assert len(fake_slack.calls("conversations.setTopic")) == 1  # the topic was already right
    assert len(fake_slack.workspace.channels) == 2


def test_create_incident_channel_finds_a_taken_name_across_pages(fake_slack: FakeSlack) -> None:
    for i in range(250):
        fake_slack.workspace.add_channel(f"filler-{i}")
    existing = fake_slack.workspace.add_channel("inc-7")
    out = actions.create_incident_channel(ctx(fake_slack), CreateChannelParams(name="inc-7"))
    assert out["channel"] == existing.id and out["created"] is False
    assert len(fake_slack.calls("conversations.list")) == 2


def test_create_incident_channel_refuses_an_archived_namesake(fake_slack: FakeSlack) -> None:
    fake_slack.workspace.add_channel("inc-8", archived=True)
    with pytest.raises(ActionError, match="archived") as caught:
        actions.create_incident_channel(ctx(fake_slack), CreateChannelParams(name="inc-8"))
    assert caught.value.retryable is False


def test_unknown_oncall_group_fails_at_once(fake_slack: FakeSlack) -> None:
    with pytest.raises(ActionError, match="no Slack user group") as caught:
        actions.create_incident_channel(
            ctx(fake_slack), CreateChannelParams(name="inc-9", oncall_group="nobody")
        )
    assert caught.value.retryable is False


def test_upload_file_sends_the_content_and_shares_it(fake_slack: FakeSlack) -> None:
    report = "# Post-incident review\n\nModel quarantined at 08:20.\n"
    out = actions.upload_file(
        ctx(fake_slack),
        UploadFileParams(
            channel="C0INCIDENT", content=report, filename="review.md", initial_comment="Review"
        ),
    )
    upload = fake_slack.workspace.uploads[out["file_id"]]
    assert upload["data"] == report.encode()
    assert upload["channel"] == "C0INCIDENT" and upload["title"] == "review.md"
    assert upload["initial_comment"] == "Review"
    assert out["name"] == "review.md" and out["permalink"]
    methods = [c.method for c in fake_slack.calls()]
    assert methods == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]


def test_429_is_waited_out_for_retry_after(fake_slack: FakeSlack) -> None:
    fake_slack.rate_limit("chat.postMessage", times=1, retry_after=1)
    started = time.monotonic()
    actions.post_message(ctx(fake_slack), PostMessageParams(channel="C0INCIDENT", text="hello"))
    calls = fake_slack.calls("chat.postMessage")
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 1.0
    assert time.monotonic() - started < 3
    assert len(messages(fake_slack)) == 1


def test_a_long_retry_after_goes_back_to_the_step_retry_policy(fake_slack: FakeSlack) -> None:
    fake_slack.rate_limit("chat.postMessage", times=1, retry_after=120)
    with pytest.raises(ActionError, match="ratelimited") as caught:
        actions.post_message(ctx(fake_slack), PostMessageParams(channel="C0INCIDENT", text="hello"))
    assert caught.value.retryable is True and caught.value.type == "RateLimited"


@pytest.mark.parametrize(
    ("error", "status", "retryable", "kind"),
    [
        ("ratelimited", 200, True, "RateLimited"),
        ("internal_error", 500, True, "Unavailable"),
        ("service_unavailable", 503, True, "Unavailable"),
        ("channel_not_found", 200, False, "ChannelNotFound"),
        ("not_in_channel", 200, False, "NotInChannel"),
        ("invalid_auth", 200, False, "Unauthorized"),
        ("missing_scope", 200, False, "Forbidden"),
    ],
)
def test_slack_errors_map_to_retryable_or_final_failures(
    fake_slack: FakeSlack, error: str, status: int, retryable: bool, kind: str
) -> None:
    fake_slack.fail("chat.postMessage", error, status=status)
    with pytest.raises(ActionError) as caught:
        actions.post_message(ctx(fake_slack), PostMessageParams(channel="C0INCIDENT", text="hello"))
    assert caught.value.retryable is retryable
    assert caught.value.type == kind
    assert error in str(caught.value)
    assert BOT_TOKEN not in str(caught.value)


def test_real_refusals_from_the_workspace(fake_slack: FakeSlack) -> None:
    fake_slack.workspace.add_channel("quiet", bot_member=False)
    with pytest.raises(ActionError, match="not_in_channel"):
        actions.post_message(ctx(fake_slack), PostMessageParams(channel="#quiet", text="hello"))
    with pytest.raises(ActionError, match="channel_not_found"):
        actions.post_message(ctx(fake_slack), PostMessageParams(channel="#nowhere", text="hello"))
    with pytest.raises(ActionError, match="invalid_auth") as caught:
        actions.post_message(
            ctx(fake_slack, token="xoxb-wrong"), PostMessageParams(channel="C0INCIDENT", text="x")
        )
    assert caught.value.retryable is False


def test_an_unreachable_slack_is_retryable() -> None:
    context = ActionContext(
        run_id="r",
        workflow_id="r",
        playbook="pb",
        step_path="notify",
        attempt=1,
        idempotency_key="k",
        secrets={"SLACK_BOT_TOKEN": BOT_TOKEN},
        settings={"SLACK_API_URL": f"http://127.0.0.1:{free_port()}/api/"},
    )
    with pytest.raises(ActionError, match="cannot connect") as caught:
        actions.post_message(context, PostMessageParams(channel="C0INCIDENT", text="hello"))
    assert caught.value.retryable is True and caught.value.type == "Unavailable"


@pytest.mark.parametrize(
    "args",
    [
        {"channel": "C1"},
        {"channel": "C1", "text": "x", "template": "notice"},
        {"channel": "C1", "text": "x", "vars": {"a": 1}},
    ],
)
def test_message_parameters_need_exactly_one_body(args: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"give|vars"):
        REGISTRY.get("slack.post_message").params_model.model_validate(args)
