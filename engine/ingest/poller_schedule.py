"""Run the Elastic Security poller: its worker, and the Temporal Schedule that ticks it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.worker import Worker

from engine.ingest.config import ReceiverConfig
from engine.ingest.core import Ingest, build_ingest
from engine.ingest.es_refs import es_client_for
from engine.ingest.poller import POLL_SCHEDULE_ID, POLL_WORKFLOW, PollElasticAlerts, PollInput
from engine.ingest.poller_activity import ElasticPoller, temporal_run_url
from engine.settings import Settings
from engine.spec.catalog import Catalog
from engine.worker import workflow_runner


def ingest_task_queue(task_queue: str) -> str:
    """The task queue of the ingestion worker (kept apart from playbook runs)."""
    return f"{task_queue}-ingest"


def poll_schedule(*, task_queue: str, every_s: float, request: PollInput | None = None) -> Schedule:
    """A schedule that starts one poll every ``every_s`` seconds, never two at once."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            POLL_WORKFLOW,
            request or PollInput(),
            id=POLL_SCHEDULE_ID,
            task_queue=task_queue,
            # A poll that no worker picks up is pointless once the next tick is due.
            execution_timeout=timedelta(seconds=max(60.0, every_s * 5)),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every_s))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_poll_schedule(
    client: Client, *, task_queue: str, every_s: float, request: PollInput | None = None
) -> None:
    """Create the poll schedule, or bring an existing one up to date (its paused state is kept)."""
    schedule = poll_schedule(task_queue=task_queue, every_s=every_s, request=request)
    try:
        await client.create_schedule(POLL_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:

        def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule.state = current.description.schedule.state
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(POLL_SCHEDULE_ID).update(update)


def build_poller_worker(client: Client, task_queue: str, poller: ElasticPoller) -> Worker:
    """A worker for ``PollElasticAlerts`` and its activity."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[PollElasticAlerts],
        activities=[poller.poll],
        workflow_runner=workflow_runner(client.data_converter),
    )


async def serve_poller(
    settings: Settings,
    client: Client,
    catalog: Catalog,
    stop: asyncio.Event,
    *,
    elasticsearch_url: str,
    every_s: float = 30.0,
    web_ui_url: str | None = None,
    ingest: Ingest | None = None,
) -> None:
    """Poll Elastic Security every ``every_s`` seconds until ``stop`` is set."""
    if ingest is None:  # the poller hands alerts over itself: no spool (the receiver owns that)
        config = ReceiverConfig.from_env(settings.home.resolve()).model_copy(update={"spool": False})
        ingest = build_ingest(settings, client, catalog, elasticsearch_url=elasticsearch_url, config=config)
    es = es_client_for(settings, elasticsearch_url)
    run_url = temporal_run_url(web_ui_url or settings.temporal.web_ui_url, settings.temporal.namespace)
    poller = ElasticPoller(ingest, es, run_url=run_url)
    queue = ingest_task_queue(settings.temporal.task_queue)
    try:
        async with build_poller_worker(client, queue, poller):
            await ensure_poll_schedule(client, task_queue=queue, every_s=every_s)
            await stop.wait()
    finally:
        es.close()
