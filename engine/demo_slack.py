"""The chat half of `make demo`: a local Slack stand-in, its approval messages and a signed click.

The demo has no real workspace, so it serves the fake Slack Web API (the one the tests use) on a
loopback port and points the engine's Slack settings at it. The receiver then verifies a click
exactly as it would one from Slack: the form body signed with the signing secret.
"""

from __future__ import annotations

import asyncio
import html
import os
import time
import urllib.error
import urllib.request
from typing import Any

from temporalio.client import Client

from engine import client as fl
from engine.errors import StackError
from integrations.slack.blocks import APPROVE_ACTION
from integrations.slack.testing import FakeSlack, block_action_payload, signed_request

BOT_TOKEN = "xoxb-fireline-demo"
#: Only the demo's receiver and its own clicks know it; it lives as long as the demo does.
SIGNING_SECRET = "fireline-demo-signing-secret-0001"
#: The channel the shipped playbooks post to (`#ai-incidents`) also receives approval requests.
CHANNEL = "ai-incidents"
#: The approvers' groups the shipped playbooks name, so group checks answer as in a real workspace.
GROUPS = {"S0MLONCALL": "ml-oncall", "S0SECLEADS": "security-leads"}


def start_fake_slack() -> FakeSlack:
    """The Slack stand-in with the channel and user groups the shipped playbooks use."""
    slack = FakeSlack(BOT_TOKEN).start()
    slack.workspace.add_channel(CHANNEL, id="C0AIINCIDENTS")
    for group_id, handle in GROUPS.items():
        slack.workspace.add_usergroup(group_id, handle, ["U0ONCALL"])
    return slack


def configure_slack(data: dict[str, Any], slack: FakeSlack) -> None:
    """Point the settings ``data`` (and the in-process worker's secrets) at the stand-in."""
    data["slack"].update(
        bot_token=BOT_TOKEN,
        signing_secret=SIGNING_SECRET,
        api_url=slack.api_url,
        approvals_channel=f"#{CHANNEL}",
        mode="http",
        app_token=None,
    )
    # Actions and the notifier resolve the bot token like any deployment's secret: from the env.
    os.environ.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=slack.api_url)


async def posted_approval(
    client: Client, slack: FakeSlack, run_id: str, within_s: float = 60
) -> dict[str, Any]:
    """The approval request the run posted to Slack (waits until it is recorded on the run)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        for pending in await fl.pending_approvals(client, run_id):
            if pending.approval is not None and pending.approval.messages:
                ref = pending.approval.messages[0]
                message: dict[str, Any] = slack.workspace.messages[ref["channel"]][ref["ts"]]
                return {**message, "channel": ref["channel"]}
        await asyncio.sleep(0.2)
    raise StackError(f"run {run_id} posted no approval request to Slack within {within_s:.0f}s")


def render_message(message: dict[str, Any]) -> str:
    """A short plain-text rendering of a Block Kit message: its texts and its button labels."""
    lines: list[str] = []
    for block in message.get("blocks") or []:
        kind = block.get("type")
        if kind in ("header", "section") and isinstance(block.get("text"), dict):
            text = str(block["text"].get("text", ""))
            lines.append(f"  | {text.upper()}" if kind == "header" else f"  | {text}")
        if kind == "section":
            lines += [f"  | {f.get('text', '')}" for f in block.get("fields") or []]
        if kind == "context":
            lines += [f"  | {e.get('text', '')}" for e in block.get("elements") or [] if "text" in e]
        if kind == "actions":
            labels = [
                f"[ {e['text']['text']} ]" for e in block.get("elements") or [] if e.get("type") == "button"
            ]
            lines.append("  | " + "  ".join(labels))
    # Slack escapes &, < and > in message text; show what a responder reads.
    return html.unescape("\n".join(line.replace("\n", "\n  | ") for line in lines))


def click_approve(receiver: str, message: dict[str, Any], user: str) -> int:
    """POST a Slack-signed Approve click on ``message`` to the receiver; the HTTP status."""
    button = next(
        e
        for block in message["blocks"]
        if block.get("type") == "actions"
        for e in block.get("elements") or []
        if e.get("action_id") == APPROVE_ACTION
    )
    payload = block_action_payload(button["value"], user=user, channel=message["channel"], message=message)
    signed = signed_request(payload, SIGNING_SECRET)
    request = urllib.request.Request(
        f"{receiver.rstrip('/')}/slack/interactions", data=signed.body, headers=signed.headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        raise StackError(f"the receiver refused the Slack click: {refused.code}") from refused
