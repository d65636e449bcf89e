"""Approval Block Kit, request signatures and the user-group cache (pure, plus the fake Slack)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from integrations.slack import blocks
from integrations.slack.client import make_client
from integrations.slack.signing import RequestVerifier, Verdict, sign
from integrations.slack.testing import FakeSlack
from integrations.slack.usergroups import GroupMembership
from tests.fixtures.slack import BOT_TOKEN, SIGNING_SECRET, fake_slack  # noqa: F401

pytestmark = pytest.mark.integration
NOW = 1_790_000_000


def test_approval_message_has_buttons_that_carry_run_and_step() -> None:
    content = blocks.approval_message(
        "run-1",
        "approve",
        "Quarantine fraud-scorer?",
        "42 calls",
        "evidence",
        "http://x/runs/run-1",
        ["user:U1", "group:S0ONCALL", "group:ml-oncall"],
    )
    header, details, evidence, context, actions = content
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "Quarantine fraud-scorer?"}}
    assert details["text"]["text"] == "42 calls"
    assert evidence["block_id"] == blocks.EVIDENCE_BLOCK
    assert context["elements"][0]["text"] == "Approvers: <@U1>, <!subteam^S0ONCALL>, @ml-oncall"
    approve, reject = actions["elements"]
    assert (approve["action_id"], approve["style"]) == ("fireline_approve", "primary")
    assert (reject["action_id"], reject["style"]) == ("fireline_reject", "danger")
    assert (
        json.loads(approve["value"]) == json.loads(reject["value"]) == {"run_id": "run-1", "step": "approve"}
    )


def test_alert_text_in_an_approval_cannot_mention_or_link() -> None:
    hostile = "<!channel> see <https://evil.example|docs> & more"
    content = blocks.approval_message("r", "s", hostile, hostile, hostile, None, ["user:<!here>"])
    assert content[0]["text"]["type"] == "plain_text"  # never parsed for mentions or links
    text = json.dumps(content[1:])
    assert "<!channel>" not in text and "<https://evil" not in text and "<!here>" not in text
    assert "&lt;!channel&gt;" in text


def test_long_texts_are_cut_to_slack_limits() -> None:
    content = blocks.approval_message("r", "s", "t" * 500, "d" * 5000, "e" * 5000, None, [])
    assert len(content[0]["text"]["text"]) == 150
    assert all(len(b["text"]["text"]) <= 3000 for b in content[1:3])


def test_decided_message_shows_who_when_and_why_without_buttons() -> None:
    when = datetime(2026, 11, 20, 8, 20, tzinfo=UTC)
    content = blocks.decided_message(
        "run-1",
        "approve",
        "Quarantine?",
        "reject",
        "user:U1",
        when,
        "false <positive>",
        evidence_summary="ev",
        run_url="http://x/r?a=1&b=2",
    )
    assert all(b["type"] != "actions" for b in content)
    outcome = next(b for b in content if b.get("block_id") == blocks.DECISION_BLOCK)["text"]["text"]
    assert outcome.startswith(":no_entry: *Rejected* by <@U1> on <!date^1795162800^")
    assert outcome.endswith("\n>false &lt;positive&gt;")
    assert blocks.carried_context(content) == ("ev", "http://x/r?a=1&b=2")


def test_reject_modal_round_trips_its_routing_even_with_huge_evidence() -> None:
    view = blocks.reject_modal(
        "run-1", "approve", "C1", "1.2", title="T", evidence_summary='é"' * 5000, run_url="http://x"
    )
    assert view["callback_id"] == blocks.REJECT_CALLBACK
    assert len(view["private_metadata"]) <= 3000
    meta = blocks.parse_reject_metadata(view["private_metadata"])
    assert meta is not None and (meta.run_id, meta.step, meta.channel, meta.ts) == (
        "run-1",
        "approve",
        "C1",
        "1.2",
    )
    reason = view["blocks"][1]
    assert (reason["block_id"], reason["element"]["action_id"], reason["type"]) == (
        "fireline_reason",
        "reason",
        "input",
    )


@pytest.mark.parametrize("value", [None, 7, "", "{", "[]", '{"run_id": "r"}'])
def test_unreadable_button_values_are_not_ours(value: object) -> None:
    assert blocks.parse_button_value(value) is None


def test_signatures_verify_once_inside_the_window() -> None:
    verifier = RequestVerifier(SIGNING_SECRET, clock=lambda: NOW)
    body = b"payload=%7B%7D"
    good = sign(SIGNING_SECRET, NOW, body)
    assert good.startswith("v0=") and len(good) == 67
    assert verifier.verify(body, str(NOW), good) is Verdict.OK
    assert verifier.verify(body, str(NOW), good) is Verdict.REPLAYED
    assert verifier.verify(body + b"x", str(NOW), good) is Verdict.FORGED
    assert verifier.verify(body, str(NOW - 301), sign(SIGNING_SECRET, NOW - 301, body)) is Verdict.STALE
    assert verifier.verify(body, str(NOW + 301), sign(SIGNING_SECRET, NOW + 301, body)) is Verdict.STALE
    assert verifier.verify(body, None, good) is Verdict.MISSING
    assert verifier.verify(body, "soon", good) is Verdict.MALFORMED
    assert verifier.verify(body, str(NOW), "sha256=abc") is Verdict.MALFORMED
    assert SIGNING_SECRET not in repr(verifier)


def test_remembered_signatures_are_forgotten_after_the_window() -> None:
    now = [float(NOW)]
    verifier = RequestVerifier(SIGNING_SECRET, clock=lambda: now[0])
    body = b"payload=%7B%7D"
    assert verifier.verify(body, str(NOW), sign(SIGNING_SECRET, NOW, body)) is Verdict.OK
    now[0] += 400
    later = int(now[0])
    assert verifier.verify(body, str(later), sign(SIGNING_SECRET, later, body)) is Verdict.OK
    assert len(verifier._seen) == 1


def test_group_membership_is_cached_for_its_ttl(fake_slack: FakeSlack) -> None:
    now = [0.0]
    groups = GroupMembership(
        lambda: make_client(BOT_TOKEN, fake_slack.api_url), ttl_s=60, clock=lambda: now[0]
    )
    assert sorted(groups.groups_of("U2")) == ["S0ONCALL", "ml-oncall"]
    assert groups.groups_of("U9") == ["S0LEADS", "security-leads"]
    assert groups.groups_of("U5") == []
    assert len(fake_slack.calls("usergroups.list")) == 1

    fake_slack.workspace.usergroups["S0ONCALL"].users.remove("U2")
    now[0] = 30
    assert "S0ONCALL" in groups.groups_of("U2")  # still cached
    now[0] = 61
    assert groups.groups_of("U2") == []  # removed from the group: no longer an approver
    assert len(fake_slack.calls("usergroups.list")) == 2


def test_group_lookup_failures_fall_back_to_no_groups(fake_slack: FakeSlack) -> None:
    fake_slack.fail("usergroups.list", "missing_scope")
    groups = GroupMembership(lambda: make_client(BOT_TOKEN, fake_slack.api_url))
    assert groups.groups_of("U2") == []
    assert groups.groups_of("U2") == ["S0ONCALL", "ml-oncall"]  # asked again: it works now


def test_escalation_reminder_mentions_the_next_approvers_and_keeps_the_buttons() -> None:
    deadline = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    content = blocks.reminder_message(
        "run-1",
        "approve",
        "Quarantine <x>?",
        ["group:S0LEADS", "group:security-leads"],
        deadline,
        "http://x/r",
    )
    text = content[0]["text"]["text"]
    assert text.startswith(":alarm_clock: No decision yet on *Quarantine &lt;x&gt;?*. ")
    assert "<!subteam^S0LEADS>, @security-leads: please decide before <!date^" in text
    assert blocks.carried_context(content) == ("", "http://x/r")
    buttons = content[-1]["elements"]
    assert [b["action_id"] for b in buttons] == [blocks.APPROVE_ACTION, blocks.REJECT_ACTION]
    assert blocks.parse_button_value(buttons[0]["value"]) == blocks.ButtonValue(
        run_id="run-1", step="approve"
    )
