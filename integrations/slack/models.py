"""Parameters of the Slack actions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Content(_Params):
    """A message body: ``text``, ``blocks`` (``text`` is then the notification fallback) or a template."""

    text: str | None = Field(None, max_length=40_000, description="Message text (mrkdwn).")
    blocks: list[dict[str, Any]] | None = Field(None, max_length=50, description="Block Kit blocks.")
    template: str | None = Field(
        None, description="Name of a template in playbooks/templates/slack (without .j2)."
    )
    vars: dict[str, Any] = Field(default_factory=dict, description="Variables for the template.")
    escape: bool = Field(
        True, description="Escape &, < and > in `text`, so alert data cannot ping @channel or add links."
    )

    @model_validator(mode="after")
    def _one_body(self) -> _Content:
        if self.template is not None and (self.blocks is not None or self.text is not None):
            raise ValueError("give either `template` (with `vars`) or `text`/`blocks`, not both")
        if self.template is None and self.text is None and not self.blocks:
            raise ValueError("give `text`, `blocks` or `template`")
        if self.vars and self.template is None:
            raise ValueError("`vars` needs a `template`")
        return self


class PostMessageParams(_Content):
    """Post a message to a channel, or as a reply in a thread."""

    channel: str = Field(min_length=1, description="Channel id (C…) or name (#ai-incidents).")
    thread_ts: str | None = Field(None, description="Reply in the thread of this message.")
    unfurl_links: bool = Field(False, description="Let Slack expand link previews.")


class UpdateMessageParams(_Content):
    """Replace a message's content."""

    channel: str = Field(min_length=1, description="Channel id of the message.")
    ts: str = Field(min_length=1, description="Timestamp (id) of the message.")


class CreateChannelParams(_Params):
    """Create (or reuse) an incident channel."""

    name: str = Field(
        min_length=1, max_length=200, description="Channel name; made lowercase, at most 80 characters."
    )
    topic: str | None = Field(None, max_length=250, description="Channel topic.")
    oncall_group: str | None = Field(None, description="User group (handle or id) whose members are invited.")
    members: list[str] = Field(default_factory=list, max_length=1000, description="More user ids to invite.")
    private: bool = Field(False, description="Create a private channel.")


class UploadFileParams(_Params):
    """Upload text content as a file (e.g. the review report)."""

    channel: str = Field(min_length=1, description="Channel id to share the file in.")
    content: str = Field(max_length=10_000_000, description="File content.")
    filename: str = Field(min_length=1, max_length=255, description="File name, e.g. review.md.")
    title: str | None = Field(None, max_length=255, description="Title shown in Slack.")
    initial_comment: str | None = Field(None, max_length=4000, description="Message posted with the file.")
    thread_ts: str | None = Field(None, description="Share in the thread of this message.")
