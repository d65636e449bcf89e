"""Temporal worker wiring: the PlaybookRun workflow and the run_action activity."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from engine.activities.audit import AuditStore
from engine.activities.audit_relay import AuditRelay, AuditRelayInterceptor
from engine.activities.notify import ApprovalNotices
from engine.activities.run_action import ActionRunner
from engine.lean_runner import DetachedHeaders, LeanSandboxRunner, takes_no_context
from engine.workflows.playbook_run import PlaybookRun

# Pure, deterministic modules the workflow uses; passing them through keeps the sandbox
# strict while sparing each run a re-import of Jinja2 and pydantic models.
PASSTHROUGH_MODULES = ("engine", "jinja2", "markupsafe", "pydantic", "pydantic_core", "yaml")


def workflow_runner(
    converter: DataConverter | None = None, relay: AuditRelay | None = None
) -> WorkflowRunner:
    """The default sandbox with our pure modules passed through, made lean (engine.lean_runner).

    Args:
        converter: The worker's data converter; without it runs are asked for every context.
        relay: Stores the runs' audit trails; without it the worker keeps none.
    """
    return LeanSandboxRunner(
        SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
        ),
        context_free=converter is not None and takes_no_context(converter),
        relay=relay,
    )


class PlaybookWorker(Worker):
    """A worker for PlaybookRun whose audit relay stops when the worker does."""

    def __init__(self, *args: Any, relay: AuditRelay | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.relay = relay

    async def run(self) -> None:
        """Run until shut down; then store what the relay has due and stop its thread.

        A process that stops its worker and goes on (tests, a restarted service) would otherwise
        keep a relay retrying an Elasticsearch that is gone. Events not stored by then are made
        again when the next worker replays their runs.
        """
        try:
            await super().run()
        finally:
            if self.relay is not None:
                await asyncio.to_thread(self.relay.close)


def build_worker(
    client: Client,
    task_queue: str,
    *,
    runner: ActionRunner | None = None,
    notices: ApprovalNotices | None = None,
    audit: AuditStore | None = None,
    activities: Sequence[Any] | None = None,
    max_concurrent_activities: int = 100,
    graceful_shutdown_s: float = 30.0,
) -> PlaybookWorker:
    """A worker for PlaybookRun; ``activities`` replaces the real run_action (rehearsals).

    On shutdown (SIGTERM) it stops polling and gives in-flight actions ``graceful_shutdown_s`` to finish.
    """
    runner = runner or ActionRunner()
    notices = notices or ApprovalNotices()
    audit = audit or runner.audit
    relay = AuditRelay(audit) if audit.url else None
    chosen = list(activities) if activities is not None else [runner.run_action]
    return PlaybookWorker(
        client,
        task_queue=task_queue,
        workflows=[PlaybookRun],
        activities=[*chosen, notices.notify_approval, audit.store_audit],
        workflow_runner=workflow_runner(client.data_converter, relay),
        interceptors=[DetachedHeaders(), *([AuditRelayInterceptor(relay)] if relay else [])],
        max_concurrent_activities=max_concurrent_activities,
        graceful_shutdown_timeout=timedelta(seconds=graceful_shutdown_s),
        relay=relay,
    )


def build_action_worker(
    client: Client,
    task_queue: str,
    *,
    runner: ActionRunner,
    max_concurrent_activities: int = 100,
    graceful_shutdown_s: float = 30.0,
) -> Worker:
    """An actions-only worker for an integration's own task queue (``temporal.action_queues``)."""
    return Worker(
        client,
        task_queue=task_queue,
        activities=[runner.run_action],
        max_concurrent_activities=max_concurrent_activities,
        graceful_shutdown_timeout=timedelta(seconds=graceful_shutdown_s),
    )
