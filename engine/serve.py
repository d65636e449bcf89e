"""Long-running services of a stack: the worker (and, later, the receiver)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Callable
from typing import Any

from starlette.routing import BaseRoute
from temporalio.client import Client

from engine import client as fl
from engine.activities.audit import AuditStore
from engine.activities.notify import ApprovalNotices, Notifier, SlackNotifier
from engine.activities.run_action import ActionRunner
from engine.errors import ConfigError
from engine.ingest.handover_process import HandoverSpec
from engine.security_audit import SecurityAudit
from engine.settings import Settings, TemporalConnectArgs
from engine.spec.catalog import load_catalog
from engine.stack.state import web_ui_address, workflow_link
from engine.worker import build_action_worker, build_worker

log = logging.getLogger("fireline.serve")
AUDIT_FLUSH_TIMEOUT_S = 30.0


def approval_notices(settings: Settings, web_ui_url: str | None = None) -> ApprovalNotices:
    """Notifiers the settings ask for (Slack when a bot token and a channel are set).

    Their messages link to the run in the Temporal Web UI: ``web_ui_url``, else
    ``temporal.web_ui_url``, else the local stack's.
    """
    notifiers: list[Notifier] = []
    slack = settings.slack
    if slack.bot_token is not None and slack.approvals_channel:
        notifiers.append(SlackNotifier(slack.approvals_channel, slack.api_url))
    base = web_ui_address(web_ui_url or settings.temporal.web_ui_url, settings.home)
    namespace = settings.temporal.namespace
    return ApprovalNotices(
        notifiers, run_url=functools.partial(workflow_link, base, namespace) if base else None
    )


def action_settings(settings: Settings, elasticsearch_url: str | None) -> dict[str, Any]:
    """Non-secret configuration actions read through ``ctx.settings``."""
    out: dict[str, Any] = {}
    if elasticsearch_url:
        out["ELASTICSEARCH_URL"] = elasticsearch_url
    out["playbooks_dir"] = str(settings.playbooks_dir.resolve())  # message templates live beside playbooks
    if settings.slack.api_url:
        out["SLACK_API_URL"] = settings.slack.api_url
    if settings.elasticsearch.ca_file:
        out["ELASTICSEARCH_CA_FILE"] = str(settings.elasticsearch.ca_file)
    return out


async def serve_worker(
    client: Client,
    settings: Settings,
    *,
    elasticsearch_url: str | None,
    stop: asyncio.Event,
    only_actions: list[str] | None = None,
    web_ui_url: str | None = None,
) -> None:
    """Run a worker until ``stop`` is set; in-flight activities finish before it returns.

    With ``only_actions`` it serves just those integrations' own task queues (``temporal.action_queues``).
    """
    ca_file = str(settings.elasticsearch.ca_file) if settings.elasticsearch.ca_file else None
    runner = ActionRunner(
        settings=action_settings(settings, elasticsearch_url),
        output_cap_bytes=settings.output_cap_bytes,
        audit=AuditStore(elasticsearch_url, ca_file=ca_file),
    )
    if only_actions:
        queues = settings.temporal.action_queues
        missing = [name for name in only_actions if name not in queues]
        if missing:
            raise ConfigError(f"temporal.action_queues has no queue for: {', '.join(missing)}")
        workers = [build_action_worker(client, queues[name], runner=runner) for name in only_actions]
    else:
        workers = [
            build_worker(
                client,
                settings.temporal.task_queue,
                runner=runner,
                notices=approval_notices(settings, web_ui_url),
            )
        ]
    async with contextlib.AsyncExitStack() as running:
        for worker in workers:
            await running.enter_async_context(worker)
        await stop.wait()


def handover_spec(settings: Settings, temporal_args: TemporalConnectArgs) -> HandoverSpec:
    """The hand-over process of a ``fireline`` command: the same Temporal, codec and playbooks."""
    return HandoverSpec(
        settings,
        functools.partial(fl.connect_configured, settings, temporal_args),
        functools.partial(load_catalog, [settings.playbooks_dir]),
    )


def stop_on_signals(stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGINT/SIGTERM (graceful shutdown)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


def receiver_extra_routes(settings: Settings, client: Client, audit: SecurityAudit) -> list[BaseRoute]:
    """Slack interactivity over HTTP, when Slack is configured for it."""
    slack = settings.slack
    if slack.mode != "http" or slack.signing_secret is None or slack.bot_token is None:
        return []
    from engine.ingest.slack_interactions import slack_interactions_route
    from integrations.slack.client import make_client

    token = slack.bot_token.get_secret_value()
    return [
        slack_interactions_route(
            functools.partial(fl.decide, client),
            lambda: make_client(token, slack.api_url),
            audit,
            slack.signing_secret.get_secret_value(),
        )
    ]


async def serve_slack_socket(
    settings: Settings, client: Client, audit: SecurityAudit, stop: asyncio.Event
) -> None:
    """Slack interactivity over Socket Mode (no public endpoint) until ``stop`` is set."""
    from engine.ingest.slack_dispatch import SlackInteractionDispatcher
    from engine.ingest.slack_socket import SlackSocketMode
    from integrations.slack.client import make_client

    slack = settings.slack
    if slack.app_token is None or slack.bot_token is None:
        raise ConfigError("slack.mode is socket: set SLACK_APP_TOKEN and SLACK_BOT_TOKEN")
    token = slack.bot_token.get_secret_value()
    dispatcher = SlackInteractionDispatcher(
        functools.partial(fl.decide, client), lambda: make_client(token, slack.api_url), audit
    )
    socket = SlackSocketMode(
        dispatcher, slack.app_token.get_secret_value(), make_client(token, slack.api_url)
    )
    await socket.start()
    try:
        await stop.wait()
    finally:
        await socket.stop()


async def serve_services(
    settings: Settings,
    client: Client,
    stop: asyncio.Event,
    *,
    elasticsearch_url: str | None,
    web_ui_url: str | None,
    worker: bool = True,
    on_receiver: Callable[[str], None] | None = None,
    temporal_args: TemporalConnectArgs | None = None,
) -> None:
    """The worker and the receiver (alerts, Slack, hunts, poller) until ``stop`` is set.

    With ``temporal_args`` (how ``client`` was connected) the spool's hand-over runs in a process
    of its own, connected the same way.
    """
    from engine.console import console_routes
    from engine.ingest.config import ensure_webhook_secret
    from engine.ingest.server import serve_ingest

    ensure_webhook_secret(settings.home.resolve())
    default_tokens = settings.home.resolve() / "tokens.yaml"
    if settings.access.tokens_file is None and default_tokens.is_file():  # where `fireline token` puts them
        access = settings.access.model_copy(update={"tokens_file": default_tokens})
        settings = settings.model_copy(update={"access": access})
    catalog = load_catalog([settings.playbooks_dir])
    for diagnostic in catalog.diagnostics:
        log.warning("playbook not loaded: %s", diagnostic.render())
    ca_file = str(settings.elasticsearch.ca_file) if settings.elasticsearch.ca_file else None
    audit = SecurityAudit(AuditStore(elasticsearch_url, ca_file=ca_file), settings.home.resolve())
    services = [
        serve_ingest(
            settings,
            client,
            catalog,
            stop,
            elasticsearch_url=elasticsearch_url,
            web_ui_url=web_ui_url,
            extra_routes=[
                *receiver_extra_routes(settings, client, audit),
                *console_routes(
                    settings, lambda: client, lambda: catalog, audit_fn=audit, web_ui_url=web_ui_url
                ),
            ],
            on_listening=on_receiver,
            handover=handover_spec(settings, temporal_args) if temporal_args is not None else None,
        )
    ]
    if settings.slack.mode == "socket":
        services.append(serve_slack_socket(settings, client, audit, stop))
    if worker:
        services.append(
            serve_worker(
                client, settings, elasticsearch_url=elasticsearch_url, stop=stop, web_ui_url=web_ui_url
            )
        )
    if settings.observability.metrics_listen:
        from engine.metrics import serve_metrics

        services.append(serve_metrics(settings.observability.metrics_listen, stop))
    try:
        await asyncio.gather(*services)
    finally:
        # Security events are written by a thread: every one recorded is on disk (and in ES) before exit.
        await asyncio.to_thread(audit.close, AUDIT_FLUSH_TIMEOUT_S)
