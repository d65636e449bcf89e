"""The demo prints a posted Block Kit approval as text a responder can read."""

from __future__ import annotations

from engine.demo_slack import render_message
from integrations.slack import blocks


def _message() -> dict[str, object]:
    content = blocks.approval_message(
        "run-1",
        "approve",
        "Block 2 API key(s) attacking support-assistant?",
        "90 requests scored >= 0.8",
        "alert: injection burst",
        "http://127.0.0.1:8233/run-1",
        ["group:ml-oncall", "user:U024BE7LH"],
    )
    return {"ts": "1.000001", "channel": "C1", "blocks": content}


def test_render_shows_title_details_and_button_labels_without_slack_escapes() -> None:
    text = render_message(_message())
    lines = text.splitlines()
    assert lines[0] == "  | BLOCK 2 API KEY(S) ATTACKING SUPPORT-ASSISTANT?"
    assert "  | 90 requests scored >= 0.8" in lines  # Slack's &gt; is shown as >
    assert lines[-1] == "  | [ Approve ]  [ Reject ]"
    assert '"type"' not in text and "block_id" not in text  # readable, not a raw dump
