"""The ``notify_approval`` activity: approval requests, escalations and decisions in chat.

Slack is used when a bot token and an approvals channel are configured; otherwise the notice
is a no-op and responders decide through ``fireline approve`` or the web console.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from temporalio import activity

from engine.activities.secrets import resolve_secrets
from engine.plan.notices import ApprovalNotice, MessageRef, NoticeKind
from engine.workflows.types import NOTIFY_ACTIVITY

log = logging.getLogger("fireline.notify")


class Notifier(Protocol):
    """Somewhere approval notices go."""

    name: str

    def send(self, notice: ApprovalNotice, run_url: str | None) -> list[MessageRef]: ...


class SlackNotifier:
    """Posts Block Kit approval requests and updates them in place when decided."""

    name = "slack"

    def __init__(self, channel: str, api_url: str | None = None) -> None:
        self.channel = channel
        self.api_url = api_url

    def send(self, notice: ApprovalNotice, run_url: str | None) -> list[MessageRef]:
        from integrations.slack import blocks
        from integrations.slack.client import make_client

        token = resolve_secrets(["SLACK_BOT_TOKEN"])["SLACK_BOT_TOKEN"]
        client = make_client(token, self.api_url)
        approval = notice.approval
        if notice.kind is NoticeKind.DECIDED:
            message = blocks.decided_message(
                notice.run_id,
                notice.step,
                approval.title,
                approval.decision.value if approval.decision else "none",
                approval.decided_by or "nobody",
                approval.decided_at or approval.requested_at,
                approval.reason,
                details=approval.details,
                evidence_summary=notice.evidence,
                run_url=run_url,
            )
            for ref in notice.messages:
                if ref.notifier == self.name:
                    client.chat_update(channel=ref.channel, ts=ref.ts, text=approval.title, blocks=message)
            return []
        if notice.kind in (NoticeKind.ESCALATED, NoticeKind.REMINDER):
            message = blocks.reminder_message(
                notice.run_id, notice.step, approval.title, approval.approvers, approval.deadline, run_url
            )
        else:
            message = blocks.approval_message(
                notice.run_id,
                notice.step,
                approval.title,
                approval.details,
                notice.evidence,
                run_url,
                approval.approvers,
                editable=approval.editable if approval.guards else None,
            )
        answer: Any = client.chat_postMessage(channel=self.channel, text=approval.title, blocks=message)
        return [MessageRef(notifier=self.name, channel=str(answer["channel"]), ts=str(answer["ts"]))]


class ApprovalNotices:
    """Holds the configured notifiers; the activity sends each notice to all of them.

    ``run_url`` builds the link to the run that messages carry (``None``: no link).
    """

    def __init__(
        self, notifiers: list[Notifier] | None = None, *, run_url: Callable[[str], str] | None = None
    ) -> None:
        self.notifiers = notifiers or []
        self._run_url = run_url

    def run_url(self, run_id: str) -> str | None:
        """Link to the run for responders (the Temporal Web UI)."""
        return self._run_url(run_id) if self._run_url else None

    @activity.defn(name=NOTIFY_ACTIVITY)
    async def notify_approval(self, notice: ApprovalNotice) -> list[MessageRef]:
        """Send one notice; a notifier that fails raises so Temporal retries the notice."""
        refs: list[MessageRef] = []
        for notifier in self.notifiers:
            refs += await asyncio.to_thread(notifier.send, notice, self.run_url(notice.run_id))
        return refs
