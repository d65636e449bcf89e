"""The workspace behind the fake Slack Web API: channels, messages, user groups, views and files.

Each method takes the call's arguments (already decoded from JSON or form encoding) and answers
with Slack's own JSON shapes and error codes. :mod:`integrations.slack.testing` serves it over HTTP.
"""

from __future__ import annotations

import base64
import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Answer = dict[str, Any]
_CHANNEL_NAME = re.compile(r"^[a-z0-9_-]{1,80}$")


class SlackFault(Exception):
    """A method answers ``{"ok": false, "error": code}``."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(code)


def flag(value: Any) -> bool:
    """A boolean argument as Slack reads it: true, 1, "true", "1"."""
    if isinstance(value, str):
        return value.lower() in ("1", "true")
    return bool(value)


def _split(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


@dataclass
class Channel:
    """A conversation the fake knows."""

    id: str
    name: str
    private: bool = False
    archived: bool = False
    topic: str = ""
    members: set[str] = field(default_factory=set)
    created: int = field(default_factory=lambda: int(time.time()))

    def to_json(self, bot: str) -> Answer:
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.private,
            "is_group": False,
            "is_private": self.private,
            "is_archived": self.archived,
            "is_member": bot in self.members,
            "created": self.created,
            "creator": bot,
            "topic": {"value": self.topic, "creator": bot if self.topic else "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "num_members": len(self.members),
        }


@dataclass
class UserGroupState:
    """A user group (``subteam``)."""

    id: str
    handle: str
    name: str
    users: list[str]


class FakeWorkspace:
    """State and method implementations; every method returns the JSON body of a success."""

    def __init__(self, *, bot_user: str = "UBOT", team: str = "T0FIRELINE", upload_base: str = "") -> None:
        self.bot_user = bot_user
        self.team = team
        self.upload_base = upload_base
        self.channels: dict[str, Channel] = {}
        self.messages: dict[str, dict[str, Answer]] = {}
        self.ephemerals: list[Answer] = []
        self.views: list[Answer] = []
        self.usergroups: dict[str, UserGroupState] = {}
        self.uploads: dict[str, Answer] = {}
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)
        self.methods: dict[str, Callable[[Answer], Answer]] = {
            "auth.test": self.auth_test,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "conversations.create": self.conversations_create,
            "conversations.list": self.conversations_list,
            "conversations.info": self.conversations_info,
            "conversations.setTopic": self.conversations_set_topic,
            "conversations.invite": self.conversations_invite,
            "usergroups.list": self.usergroups_list,
            "usergroups.users.list": self.usergroups_users_list,
            "views.open": self.views_open,
            "files.getUploadURLExternal": self.files_get_upload_url,
            "files.completeUploadExternal": self.files_complete_upload,
        }

    # -- set up -------------------------------------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        """A fresh Slack-looking id (``C000001``)."""
        return f"{prefix}{next(self._ids):06d}"

    def new_ts(self) -> str:
        """A fresh, increasing message timestamp."""
        return f"{int(time.time())}.{next(self._ts):06d}"

    def add_channel(self, name: str, *, bot_member: bool = True, **options: Any) -> Channel:
        """Add a channel; the bot is a member unless ``bot_member`` is False."""
        channel = Channel(id=options.pop("id", None) or self.new_id("C"), name=name, **options)
        if bot_member:
            channel.members.add(self.bot_user)
        self.channels[channel.id] = channel
        self.messages.setdefault(channel.id, {})
        return channel

    def add_usergroup(self, group_id: str, handle: str, users: list[str], name: str = "") -> None:
        """Add a user group with its members."""
        self.usergroups[group_id] = UserGroupState(group_id, handle, name or handle, list(users))

    # -- lookups ------------------------------------------------------------------------------------------
    def channel(self, ref: Any, *, member: bool = False, writable: bool = False) -> Channel:
        """The channel named by id or ``#name``; Slack's errors when it is missing or closed to the bot."""
        text = str(ref or "")
        found = self.channels.get(text) or next(
            (c for c in self.channels.values() if c.name == text.lstrip("#")), None
        )
        if found is None or (found.private and self.bot_user not in found.members):
            raise SlackFault("channel_not_found")
        if writable and found.archived:
            raise SlackFault("is_archived")
        if member and self.bot_user not in found.members:
            raise SlackFault("not_in_channel")
        return found

    # -- methods ------------------------------------------------------------------------------------------
    def auth_test(self, args: Answer) -> Answer:
        return {
            "url": "https://fireline-test.slack.com/",
            "team": "fireline-test",
            "user": "fireline",
            "team_id": self.team,
            "user_id": self.bot_user,
            "bot_id": "B0FIRELINE",
            "is_enterprise_install": False,
        }

    def _message_body(self, args: Answer) -> Answer:
        text, blocks = args.get("text"), args.get("blocks")
        if not text and not blocks:
            raise SlackFault("no_text")
        if blocks is not None and (
            not isinstance(blocks, list) or not all(isinstance(b, dict) and "type" in b for b in blocks)
        ):
            raise SlackFault("invalid_blocks")
        if isinstance(blocks, list) and len(blocks) > 50:
            raise SlackFault("invalid_blocks")
        return {"text": text or "", "blocks": blocks or []}

    def chat_post_message(self, args: Answer) -> Answer:
        channel = self.channel(args.get("channel"), member=True, writable=True)
        body = self._message_body(args)
        ts = self.new_ts()
        message = {"type": "message", "user": self.bot_user, "bot_id": "B0FIRELINE", "ts": ts, **body}
        if args.get("thread_ts"):
            if str(args["thread_ts"]) not in self.messages[channel.id]:
                raise SlackFault("thread_not_found")
            message["thread_ts"] = str(args["thread_ts"])
        self.messages[channel.id][ts] = message
        return {"channel": channel.id, "ts": ts, "message": message}

    def chat_update(self, args: Answer) -> Answer:
        channel = self.channel(args.get("channel"), writable=True)
        message = self.messages[channel.id].get(str(args.get("ts", "")))
        if message is None:
            raise SlackFault("message_not_found")
        if message.get("user") != self.bot_user:
            raise SlackFault("cant_update_message")
        message.update(self._message_body(args), edited={"user": self.bot_user, "ts": self.new_ts()})
        return {"channel": channel.id, "ts": message["ts"], "text": message["text"], "message": message}

    def chat_post_ephemeral(self, args: Answer) -> Answer:
        channel = self.channel(args.get("channel"), member=True, writable=True)
        if not args.get("user"):
            raise SlackFault("user_not_found")
        body = self._message_body(args)
        ts = self.new_ts()
        self.ephemerals.append({"channel": channel.id, "user": str(args["user"]), "ts": ts, **body})
        return {"message_ts": ts}

    def conversations_create(self, args: Answer) -> Answer:
        name = str(args.get("name", ""))
        if not name:
            raise SlackFault("invalid_name_required")
        if not _CHANNEL_NAME.match(name):
            raise SlackFault("invalid_name_specials")
        if any(c.name == name for c in self.channels.values()):
            raise SlackFault("name_taken")
        channel = self.add_channel(name, private=flag(args.get("is_private")))
        return {"channel": channel.to_json(self.bot_user)}

    def conversations_info(self, args: Answer) -> Answer:
        """Slack's conversations.info: the channel's object, or channel_not_found."""
        return {"ok": True, "channel": self.channel(args.get("channel")).to_json(self.bot_user)}

    def conversations_list(self, args: Answer) -> Answer:
        types = set(_split(args.get("types") or "public_channel"))
        visible = [
            c
            for c in self.channels.values()
            if ("private_channel" if c.private else "public_channel") in types
            and not (c.archived and flag(args.get("exclude_archived")))
            and not (c.private and self.bot_user not in c.members)
        ]
        limit = min(max(int(args.get("limit") or 100), 1), 1000)
        cursor = str(args.get("cursor") or "")
        try:
            start = int(base64.b64decode(cursor).decode().removeprefix("next:")) if cursor else 0
        except ValueError:
            raise SlackFault("invalid_cursor") from None
        page = visible[start : start + limit]
        more = start + limit < len(visible)
        next_cursor = base64.b64encode(f"next:{start + limit}".encode()).decode() if more else ""
        return {
            "channels": [c.to_json(self.bot_user) for c in page],
            "response_metadata": {"next_cursor": next_cursor},
        }

    def conversations_set_topic(self, args: Answer) -> Answer:
        channel = self.channel(args.get("channel"), member=True, writable=True)
        topic = str(args.get("topic", ""))
        if len(topic) > 250:
            raise SlackFault("too_long")
        channel.topic = topic
        return {"channel": channel.to_json(self.bot_user)}

    def conversations_invite(self, args: Answer) -> Answer:
        channel = self.channel(args.get("channel"), member=True, writable=True)
        users = _split(args.get("users"))
        if not users:
            raise SlackFault("no_user")
        if self.bot_user in users:
            raise SlackFault("cant_invite_self")
        new = [u for u in users if u not in channel.members]
        if not new and not flag(args.get("force")):
            raise SlackFault("already_in_channel")
        if len(new) < len(users) and not flag(args.get("force")):
            raise SlackFault("already_in_channel")
        channel.members.update(new)
        return {"channel": channel.to_json(self.bot_user)}

    def usergroups_list(self, args: Answer) -> Answer:
        groups = []
        for g in self.usergroups.values():
            item: Answer = {
                "id": g.id,
                "team_id": self.team,
                "is_usergroup": True,
                "name": g.name,
                "handle": g.handle,
                "description": "",
                "date_delete": 0,
                "user_count": len(g.users),
            }
            if flag(args.get("include_users")):
                item["users"] = list(g.users)
            groups.append(item)
        return {"usergroups": groups}

    def usergroups_users_list(self, args: Answer) -> Answer:
        group = self.usergroups.get(str(args.get("usergroup", "")))
        if group is None:
            raise SlackFault("no_such_subteam")
        return {"users": list(group.users)}

    def views_open(self, args: Answer) -> Answer:
        view = args.get("view")
        if not args.get("trigger_id"):
            raise SlackFault("invalid_arguments")
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise SlackFault("invalid_arguments")
        opened = {"id": self.new_id("V"), "team_id": self.team, "state": {"values": {}}, **view}
        self.views.append({"trigger_id": str(args["trigger_id"]), "view": opened})
        return {"view": opened}

    def files_get_upload_url(self, args: Answer) -> Answer:
        if not args.get("filename") or not str(args.get("length", "")).isdigit():
            raise SlackFault("invalid_arguments")
        file_id = self.new_id("F")
        self.uploads[file_id] = {"name": str(args["filename"]), "length": int(args["length"]), "data": None}
        return {"upload_url": f"{self.upload_base}/upload/v1/{file_id}", "file_id": file_id}

    def receive_upload(self, file_id: str, data: bytes) -> bool:
        """Store the bytes POSTed to an upload URL; False for an unknown file."""
        upload = self.uploads.get(file_id)
        if upload is None:
            return False
        upload["data"] = data
        return True

    def files_complete_upload(self, args: Answer) -> Answer:
        files = args.get("files")
        if not isinstance(files, list) or not files:
            raise SlackFault("invalid_arguments")
        channel = (
            self.channel(args["channel_id"], member=True, writable=True) if args.get("channel_id") else None
        )
        out = []
        for item in files:
            upload = self.uploads.get(str(item.get("id", ""))) if isinstance(item, dict) else None
            if upload is None or upload["data"] is None:
                raise SlackFault("file_not_found")
            upload.update(title=item.get("title") or upload["name"], channel=channel.id if channel else None)
            upload.update(initial_comment=args.get("initial_comment"), thread_ts=args.get("thread_ts"))
            file_id = str(item["id"])
            out.append(
                {
                    "id": file_id,
                    "name": upload["name"],
                    "title": upload["title"],
                    "size": len(upload["data"]),
                    "permalink": f"https://fireline-test.slack.com/files/{self.bot_user}/{file_id}/{upload['name']}",
                }
            )
        return {"files": out}
