"""Slack actions: post and update messages, open incident channels, upload files.

Every call goes through :func:`integrations.slack.client.make_client` (``SLACK_API_URL``, 429s
waited out per Retry-After) and every failure becomes an :class:`ActionError` whose ``retryable``
says whether another attempt may help (see :mod:`integrations.slack.errors`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from engine.sdk import ActionContext, ActionError, action
from integrations.slack import usergroups
from integrations.slack.blocks import escape
from integrations.slack.client import BOT_TOKEN, client_from_context
from integrations.slack.errors import slack_error_code, translate
from integrations.slack.models import (
    CreateChannelParams,
    PostMessageParams,
    UpdateMessageParams,
    UploadFileParams,
    _Content,
)
from integrations.slack.templates import render_template, templates_dir

_CHANNEL_NAME_MAX = 80
_INVITE_BATCH = 1000
_LIST_PAGES_MAX = 50


def _call(operation: str, method: Callable[..., Any], **kwargs: Any) -> Any:
    """Call one Web API method; any failure becomes an ActionError naming the method."""
    try:
        return method(**kwargs)
    except Exception as exc:
        raise translate(exc, operation=operation) from None


def _fallback_text(blocks: list[dict[str, Any]]) -> str:
    """Notification text for a blocks-only message: its first header or section."""
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict) and isinstance(text.get("text"), str):
            return str(text["text"])[:300]
    return "fireline"


def message_body(ctx: ActionContext, params: _Content) -> dict[str, Any]:
    """``text`` and ``blocks`` for chat.postMessage / chat.update."""
    if params.template is not None:
        rendered = render_template(params.template, params.vars, templates_dir(ctx))
        return {"blocks": rendered.blocks, "text": rendered.text or _fallback_text(rendered.blocks)}
    text = params.text
    if text is not None and params.escape:
        text = escape(text)
    if params.blocks:
        return {"blocks": params.blocks, "text": text or _fallback_text(params.blocks)}
    return {"text": text}


@action("slack.post_message", secrets=[BOT_TOKEN])
def post_message(ctx: ActionContext, params: PostMessageParams) -> dict[str, Any]:
    """Post text, Block Kit or a rendered template to a channel or thread; returns {channel, ts}."""
    client = client_from_context(ctx)
    body = message_body(ctx, params)
    response = _call(
        "chat.postMessage",
        client.chat_postMessage,
        channel=params.channel,
        thread_ts=params.thread_ts,
        unfurl_links=params.unfurl_links,
        unfurl_media=params.unfurl_links,
        **body,
    )
    return {"channel": response.get("channel"), "ts": response.get("ts"), "thread_ts": params.thread_ts}


@action("slack.update_message", secrets=[BOT_TOKEN], idempotent=True)
def update_message(ctx: ActionContext, params: UpdateMessageParams) -> dict[str, Any]:
    """Replace a message's text or blocks; returns {channel, ts}."""
    client = client_from_context(ctx)
    body = message_body(ctx, params)
    response = _call("chat.update", client.chat_update, channel=params.channel, ts=params.ts, **body)
    return {"channel": response.get("channel"), "ts": response.get("ts")}


def channel_name(name: str) -> str:
    """A valid Slack channel name: lowercase letters, digits, ``-`` and ``_``, at most 80 characters."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", name.lower().lstrip("#"))
    cleaned = re.sub(r"-{2,}", "-", cleaned).strip("-")[:_CHANNEL_NAME_MAX].strip("-")
    if not cleaned:
        raise ActionError(
            f"{name[:80]!r} leaves no valid channel name", type="InvalidArguments", retryable=False
        )
    return cleaned


def _find_channel(client: WebClient, name: str) -> dict[str, Any] | None:
    cursor = None
    for _ in range(_LIST_PAGES_MAX):
        response = _call(
            "conversations.list",
            client.conversations_list,
            types="public_channel,private_channel",
            exclude_archived=False,
            limit=200,
            cursor=cursor,
        )
        for channel in response.get("channels") or []:
            if isinstance(channel, dict) and channel.get("name") == name:
                return channel
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
    return None


def _create_or_find(client: WebClient, name: str, private: bool) -> tuple[dict[str, Any], bool]:
    try:
        response = client.conversations_create(name=name, is_private=private)
    except SlackApiError as exc:
        if slack_error_code(exc) != "name_taken":
            raise translate(exc, operation="conversations.create") from None
    except Exception as exc:
        raise translate(exc, operation="conversations.create") from None
    else:
        return dict(response.get("channel") or {}), True
    # A retried attempt (or a second alert) finds the channel it made before: reuse it.
    found = _find_channel(client, name)
    if found is None:
        raise ActionError(
            f"channel #{name} exists but the bot cannot see it (private?); invite the bot or rename",
            type="ChannelNotFound",
            retryable=False,
        )
    if found.get("is_archived"):
        raise ActionError(f"channel #{name} exists but is archived", type="ChannelArchived", retryable=False)
    return found, False


def _invitees(client: WebClient, params: CreateChannelParams) -> list[str]:
    users = list(params.members)
    if params.oncall_group:
        group = _call("usergroups.list", usergroups.find_group, client=client, ref=params.oncall_group)
        if group is None:
            raise ActionError(
                f"no Slack user group {params.oncall_group!r}", type="NotFound", retryable=False
            )
        users += _call("usergroups.users.list", usergroups.members, client=client, group_id=group.id)
    bot = _call("auth.test", client.auth_test).get("user_id")
    return sorted({u for u in users if u and u != bot})


def _invite(client: WebClient, channel_id: str, users: list[str]) -> None:
    for start in range(0, len(users), _INVITE_BATCH):
        batch = users[start : start + _INVITE_BATCH]
        try:
            client.conversations_invite(channel=channel_id, users=",".join(batch), force=True)
        except SlackApiError as exc:
            if slack_error_code(exc) != "already_in_channel":
                raise translate(exc, operation="conversations.invite") from None
        except Exception as exc:
            raise translate(exc, operation="conversations.invite") from None


@action("slack.create_incident_channel", secrets=[BOT_TOKEN], idempotent=True)
def create_incident_channel(ctx: ActionContext, params: CreateChannelParams) -> dict[str, Any]:
    """Create a channel (or reuse one of that name), set its topic, invite the on-call group.

    Returns {channel, name, created, invited}; running it again changes nothing.
    """
    client = client_from_context(ctx)
    name = channel_name(params.name)
    channel, created = _create_or_find(client, name, params.private)
    channel_id = str(channel.get("id", ""))
    current_topic = (channel.get("topic") or {}).get("value", "")
    if params.topic is not None and params.topic != current_topic:
        _call("conversations.setTopic", client.conversations_setTopic, channel=channel_id, topic=params.topic)
    invited = _invitees(client, params)
    if invited:
        _invite(client, channel_id, invited)
    return {"channel": channel_id, "name": name, "created": created, "invited": invited}


@action("slack.upload_file", secrets=[BOT_TOKEN])
def upload_file(ctx: ActionContext, params: UploadFileParams) -> dict[str, Any]:
    """Upload text content as a file into a channel (or thread); returns {file_id, name, permalink}."""
    client = client_from_context(ctx)
    response = _call(
        "files.upload_v2",
        client.files_upload_v2,
        channel=params.channel,
        content=params.content,
        filename=params.filename,
        title=params.title or params.filename,
        initial_comment=params.initial_comment,
        thread_ts=params.thread_ts,
    )
    info = response.get("file") or {}
    return {"file_id": info.get("id"), "name": info.get("name"), "permalink": info.get("permalink")}
