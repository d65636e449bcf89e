"""Long-running services of a stack: the worker (and, later, the receiver)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from temporalio.client import Client

from engine.activities.audit import AuditStore
from engine.activities.notify import ApprovalNotices, Notifier, SlackNotifier
from engine.activities.run_action import ActionRunner
from engine.settings import Settings
from engine.worker import build_worker


def approval_notices(settings: Settings, web_ui_url: str | None = None) -> ApprovalNotices:
    """Notifiers the settings ask for (Slack when a bot token and a channel are set)."""
    notifiers: list[Notifier] = []
    slack = settings.slack
    if slack.bot_token is not None and slack.approvals_channel:
        notifiers.append(SlackNotifier(slack.approvals_channel, slack.api_url))
    base = f"{web_ui_url}/namespaces/{settings.temporal.namespace}/workflows" if web_ui_url else None
    return ApprovalNotices(notifiers, run_url_base=base)


def action_settings(settings: Settings, elasticsearch_url: str | None) -> dict[str, Any]:
    """Non-secret configuration actions read through ``ctx.settings``."""
    out: dict[str, Any] = {}
    if elasticsearch_url:
        out["ELASTICSEARCH_URL"] = elasticsearch_url
    if settings.slack.api_url:
        out["SLACK_API_URL"] = settings.slack.api_url
    if settings.elasticsearch.ca_file:
        out["ELASTICSEARCH_CA_FILE"] = str(settings.elasticsearch.ca_file)
    return out


async def serve_worker(
    client: Client, settings: Settings, *, elasticsearch_url: str | None, stop: asyncio.Event
) -> None:
    """Run a worker until ``stop`` is set; in-flight activities finish before it returns."""
    ca_file = str(settings.elasticsearch.ca_file) if settings.elasticsearch.ca_file else None
    runner = ActionRunner(
        settings=action_settings(settings, elasticsearch_url),
        output_cap_bytes=settings.output_cap_bytes,
        audit=AuditStore(elasticsearch_url, ca_file=ca_file),
    )
    worker = build_worker(
        client, settings.temporal.task_queue, runner=runner, notices=approval_notices(settings)
    )
    async with worker:
        await stop.wait()


def stop_on_signals(stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGINT/SIGTERM (graceful shutdown)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
