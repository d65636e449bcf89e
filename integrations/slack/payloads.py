"""The parts of Slack's interactivity payloads fireline reads; everything else is ignored.

Shapes: https://docs.slack.dev/reference/interaction-payloads (``block_actions``,
``view_submission``). Parsed with pydantic at the boundary, so a payload that does not fit is
refused as a whole instead of failing half-way.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from integrations.slack import blocks


class _Lax(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Id(_Lax):
    id: str


class _Container(_Lax):
    channel_id: str | None = None
    message_ts: str | None = None


class _Message(_Lax):
    ts: str
    blocks: list[Any] = []


class _Action(_Lax):
    action_id: str
    value: str | None = None


class BlockActions(_Lax):
    """A ``block_actions`` payload: someone clicked a button."""

    type: str
    user: _Id
    trigger_id: str = ""
    channel: _Id | None = None
    container: _Container | None = None
    message: _Message | None = None
    actions: list[_Action] = []

    def where(self) -> tuple[str, str]:
        """Channel id and message ts of the clicked message ('' when unknown)."""
        channel = self.channel.id if self.channel else (self.container.channel_id if self.container else None)
        ts = self.message.ts if self.message else (self.container.message_ts if self.container else None)
        return channel or "", ts or ""


class _View(_Lax):
    id: str = ""
    callback_id: str = ""
    private_metadata: str = ""
    state: dict[str, Any] = {}

    def reason(self) -> str:
        field = (self.state.get("values") or {}).get(blocks.REASON_BLOCK) or {}
        value = (field.get(blocks.REASON_INPUT) or {}).get("value") if isinstance(field, dict) else None
        return str(value or "").strip()


class ViewSubmission(_Lax):
    """A ``view_submission`` payload: someone submitted a modal."""

    type: str
    user: _Id
    view: _View
