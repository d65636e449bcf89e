"""Post a review's digest into the incident's Slack thread, once: later compiles edit that message."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError

from engine.sdk import ActionContext
from integrations.review.analysis import human
from integrations.review.models import Review
from integrations.slack.blocks import escape
from integrations.slack.client import BOT_TOKEN, api_url, make_client
from integrations.slack.errors import slack_error_code, translate

MAX_ITEMS = 10
MAX_LINE = 300


def _line(value: object) -> str:
    text = " ".join(str(value).split())
    return escape(text if len(text) <= MAX_LINE else text[: MAX_LINE - 1] + "…")


def digest(review: Review, where: str) -> str:
    """The message: summary, response times, decisions and follow-ups, in escaped mrkdwn."""
    d = review.durations
    lines = [
        f"*Post-incident review: {_line(review.title)}*",
        _line(review.summary),
        f"Time to detect {human(d.detect_s)} · contain {human(d.contain_s)} · notify {human(d.notify_s)}",
    ]
    if review.decisions:
        lines.append("*Decisions*")
        lines += [
            f"• {_line(x.step)}: {_line(x.decision)} by {_line(x.by or 'nobody')}"
            + (f" ({_line(x.reason)})" if x.reason else "")
            for x in review.decisions[:MAX_ITEMS]
        ]
    if review.follow_ups:
        lines.append("*Open follow-ups*")
        lines += [f"• {_line(item)}" for item in review.follow_ups[:MAX_ITEMS]]
        if len(review.follow_ups) > MAX_ITEMS:
            lines.append(f"…and {len(review.follow_ups) - MAX_ITEMS} more")
    lines.append(f"Full review: {_line(where)}")
    return "\n".join(lines)


def post_review(
    ctx: ActionContext, channel: str, thread_ts: str | None, text: str, earlier: dict[str, Any] | None
) -> dict[str, str]:
    """Post ``text`` (or edit the message an earlier compile posted to the same thread).

    Returns the message's reference: {channel, channel_id, thread_ts, ts}.
    """
    client = make_client(ctx.secret(BOT_TOKEN), api_url(ctx))
    same_place = (
        isinstance(earlier, dict)
        and earlier.get("channel") == channel
        and earlier.get("thread_ts", "") == (thread_ts or "")
        and earlier.get("ts")
    )
    if same_place:
        assert earlier is not None
        try:
            client.chat_update(channel=str(earlier["channel_id"]), ts=str(earlier["ts"]), text=text)
            return {k: str(v) for k, v in earlier.items()}
        except SlackApiError as exc:
            if slack_error_code(exc) != "message_not_found":
                raise translate(exc, operation="chat.update") from None
        except Exception as exc:
            raise translate(exc, operation="chat.update") from None
    try:
        answer = client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, unfurl_links=False)
    except Exception as exc:
        raise translate(exc, operation="chat.postMessage") from None
    return {
        "channel": channel,
        "channel_id": str(answer["channel"]),
        "thread_ts": thread_ts or "",
        "ts": str(answer["ts"]),
    }
