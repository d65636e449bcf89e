"""The source-independent ingestion path: normalize, complete references, dispatch, record.

:class:`Ingest` is shared by the HTTP receiver, the Elasticsearch poller and ``fireline alerts
replay``; build it with :func:`build_ingest`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError
from temporalio.client import Client

from engine import metrics
from engine.alerts.elastic import normalize_elastic
from engine.alerts.model import Alert, AlertSource
from engine.alerts.normalize import normalize
from engine.alerts.payload import PayloadInvalid
from engine.client import run_options
from engine.ingest.alert_log import AlertLog
from engine.ingest.config import ReceiverConfig
from engine.ingest.dead_letters import DeadLetterStore
from engine.ingest.dispatch import Dispatcher, outcome_base
from engine.ingest.errors import RequestRejected, SpoolUnavailable, TemporalUnavailable
from engine.ingest.es_refs import AlertDocReader, es_client_for
from engine.ingest.handover import Handover
from engine.ingest.handover_process import HandoverProcess, HandoverSpec
from engine.ingest.models import (
    AlertLogEntry,
    AlertOutcome,
    AlertStatus,
    IngestResponse,
    RunDisposition,
    Via,
)
from engine.ingest.spool import SpoolWriter
from engine.ingest.spool_reader import SpoolReader
from engine.ingest.triggers import TriggerSet
from engine.metrics import RejectReason
from engine.settings import Settings
from engine.spec.catalog import Catalog

logger = logging.getLogger("fireline.ingest")


class ReadyReport(BaseModel):
    """The body of ``GET /readyz``."""

    ready: bool
    temporal: bool
    catalog_loaded: bool
    alert_playbooks: int = 0
    scheduled_playbooks: int = 0
    skipped: dict[str, str] = Field(default_factory=dict, description="Playbooks left out, and why.")
    #: With a spool: whether its hand-over runs, and how many acknowledged alerts it has yet to give
    #: Temporal (None until it first said). Neither changes readiness: alerts are taken either way.
    handover_running: bool | None = None
    spool_pending: int | None = None


def _count(outcome: AlertOutcome, refusal: RejectReason) -> None:
    """Move the alert counters; labels are the source and bounded enums, never alert text."""
    if outcome.status is AlertStatus.REJECTED:
        metrics.alert_rejected(outcome.source, refusal)
        return
    metrics.alert_received(outcome.source, outcome.status.value)
    for playbook in outcome.playbooks:
        if playbook.disposition in (RunDisposition.JOINED, RunDisposition.JOINED_CLOSED):
            metrics.alert_deduplicated(outcome.source, playbook.playbook)


@dataclass
class Ingest:
    """Everything one ingestion process shares: config, Temporal, triggers, log, dead letters."""

    config: ReceiverConfig
    client: Client
    triggers: TriggerSet
    dispatcher: Dispatcher
    log: AlertLog
    dead_letters: DeadLetterStore
    docs: AlertDocReader | None = None
    #: With a spool, receiver alerts are acknowledged once on disk and handed over in the background.
    spool: SpoolWriter | None = None
    handover: Handover | HandoverProcess | None = None
    #: Moves the alert counters (a hand-over process sends them to the receiver's instead).
    count: Callable[[AlertOutcome, RejectReason], None] = _count

    def record(
        self,
        outcome: AlertOutcome,
        *,
        via: Via,
        http_status: int | None = None,
        refusal: RejectReason = RejectReason.INVALID_ALERT,
    ) -> None:
        """Append one outcome to the alert log and count it (``refusal``: why, when rejected)."""
        entry = AlertLogEntry(**outcome.model_dump(), at=datetime.now(UTC), via=via, http_status=http_status)
        self.log.record(entry)
        self.count(outcome, refusal)
        logger.info("alert %.80r from %s: %s", outcome.id or "-", outcome.source, outcome.status.value)

    def record_rejection(
        self,
        source: str,
        reason: str,
        *,
        via: Via,
        http_status: int | None = None,
        refusal: RejectReason = RejectReason.INVALID_ALERT,
    ) -> None:
        """Log a refused request or payload (no alert could be read from it)."""
        outcome = AlertOutcome(source=source, status=AlertStatus.REJECTED, reason=reason)
        self.record(outcome, via=via, http_status=http_status, refusal=refusal)

    async def ingest_payload(
        self, source: AlertSource, payload: object, *, via: Via = Via.RECEIVER
    ) -> IngestResponse:
        """Normalize a decoded payload and hand every firing alert to Temporal.

        Raises:
            PayloadInvalid: the payload does not fit the source (422, naming the field).
            RequestRejected: alert ids given but no Elasticsearch to read them from (422).
            ElasticsearchUnavailable: the referenced documents could not be read now (503).
            TemporalUnavailable: some alert could not be handed over now (503; retry is safe).
        """
        received_at = datetime.now(UTC)
        result = normalize(source, payload, received_at=received_at)
        alerts, resolved = list(result.alerts), list(result.resolved)
        missing: list[str] = []
        if result.refs:
            if self.docs is None:
                raise RequestRejected(
                    422,
                    "invalid_payload",
                    "alert ids need Elasticsearch to read the alerts, and none is configured",
                    path="alert_ids",
                )
            hits, missing = await self.docs.read(result.refs)
            for hit in hits:
                try:
                    completed = normalize_elastic([hit], received_at=received_at)
                except PayloadInvalid as exc:
                    # The stored document is at fault, not the sender: skip it, say which one.
                    reason = f"alert {str(hit['_id'])[:120]} in Elasticsearch is invalid: {exc}"
                    self.record_rejection(source.value, reason, via=via)
                    continue
                alerts += completed.alerts
                resolved += completed.resolved
        if self.spool is not None and via is Via.RECEIVER:
            outcomes = await self.spool_all(alerts, via=via)
        else:
            outcomes = await self.dispatch_all(alerts, via=via)
        for alert in resolved:
            self.record(_resolved(alert), via=via)
        for alert_id in missing:
            self.record_rejection(source.value, f"alert {alert_id[:120]} not found in Elasticsearch", via=via)
        return IngestResponse(
            source=source.value,
            accepted=len(outcomes),
            resolved=len(resolved),
            alerts=outcomes,
            missing=missing,
        )

    async def dispatch_all(self, alerts: list[Alert], *, via: Via) -> list[AlertOutcome]:
        """Dispatch alerts concurrently; each handled one is logged even if another one fails.

        Raises:
            TemporalUnavailable: when any alert could not be handed over.
        """
        results = await asyncio.gather(
            *(self.dispatcher.dispatch(a, via=via) for a in alerts), return_exceptions=True
        )
        outcomes: list[AlertOutcome] = []
        problem: BaseException | None = None
        for result in results:
            if isinstance(result, BaseException):
                problem = problem or result
            else:
                self.record(result, via=via)
                outcomes.append(result)
        if problem is not None:
            raise problem
        return outcomes

    async def spool_all(self, alerts: list[Alert], *, via: Via) -> list[AlertOutcome]:
        """Store matching alerts durably for the hand-over; their run ids are known already.

        Raises:
            SpoolUnavailable: the spool could not be written (nothing is acknowledged).
        """
        spool = self.spool
        assert spool is not None
        outcomes = [self.dispatcher.preview(alert) for alert in alerts]
        queued = [(a, o) for a, o in zip(alerts, outcomes, strict=True) if o.status is AlertStatus.QUEUED]
        try:
            await asyncio.gather(*(spool.put(a.template_view(), via=via) for a, _ in queued))
        except OSError as exc:
            raise SpoolUnavailable(f"the alert spool cannot be written: {exc.strerror or exc}") from None
        for outcome in outcomes:
            if outcome.status is not AlertStatus.QUEUED:
                self.record(outcome, via=via)
        return outcomes

    def record_handed(self, outcome: AlertOutcome, via: Via) -> None:
        """Log what the hand-over did with a spooled alert."""
        self.record(outcome, via=via)

    async def replay(self, letter_id: str) -> AlertOutcome:
        """Hand a dead letter's alert to its playbooks again; the letter goes when they all start.

        Raises:
            DeadLetterNotFound: no such letter.
            TemporalUnavailable: Temporal did not answer (the letter stays).
        """
        letter = self.dead_letters.get(letter_id)
        try:
            alert = Alert.model_validate(letter.alert)
        except ValidationError as exc:
            outcome = AlertOutcome(status=AlertStatus.REJECTED, reason=f"stored alert is unreadable: {exc}")
            return outcome
        # A playbook that no longer matches (or is gone) has nothing left to replay: the letter goes.
        outcome = await self.dispatcher.dispatch(
            alert, via=Via.REPLAY, only=letter.playbooks, dead_letter=False
        )
        if outcome.status is AlertStatus.FAILED:
            letter.attempts += 1
            letter.reason = outcome.reason
            self.dead_letters.save(letter)
            outcome.dead_letter = letter.id
        else:
            self.dead_letters.remove(letter.id)
        self.record(outcome, via=Via.REPLAY)
        return outcome

    async def ready(self) -> ReadyReport:
        """Whether Temporal answers and the catalog is loaded."""
        try:
            temporal = await self.client.service_client.check_health(timeout=timedelta(seconds=2))
        except Exception:  # any failure to answer means not ready; the probe itself must not fail
            temporal = False
        return ReadyReport(
            ready=temporal,
            temporal=temporal,
            catalog_loaded=True,
            alert_playbooks=len(self.triggers.alert_triggered),
            scheduled_playbooks=len(self.triggers.scheduled),
            skipped=self.triggers.skipped,
            handover_running=self.handover.running if self.handover is not None else None,
            spool_pending=self.handover.pending if self.handover is not None else None,
        )


def _resolved(alert: Alert) -> AlertOutcome:
    return AlertOutcome(**outcome_base(alert, AlertStatus.RESOLVED), reason="the source reports it resolved")


def build_ingest(
    settings: Settings,
    client: Client,
    catalog: Catalog,
    *,
    elasticsearch_url: str | None,
    config: ReceiverConfig | None = None,
    home: Path | None = None,
    handover: HandoverSpec | None = None,
) -> Ingest:
    """Assemble the ingestion path for a stack; ``home`` defaults to ``settings.home``.

    With the spool on, ``handover`` runs the hand-over in a process of its own (as the ``fireline``
    commands do); without it the hand-over shares this process (tests, embedding).

    Raises:
        SpoolUnavailable: another receiver appends to this spool, or it cannot be opened.
    """
    home = (home or settings.home).resolve()
    config = config or ReceiverConfig.from_env(home)
    triggers = TriggerSet.from_catalog(catalog)
    dead_letters = DeadLetterStore(home)
    dispatcher = Dispatcher(
        client,
        triggers,
        task_queue=settings.temporal.task_queue,
        dead_letters=dead_letters,
        options=run_options(settings),
        max_concurrent=config.max_concurrent_starts,
        timeout_s=config.dispatch_timeout_s,
    )
    docs = AlertDocReader(es_client_for(settings, elasticsearch_url)) if elasticsearch_url else None
    log = AlertLog(home, capacity=config.recent_alerts)
    ingest = Ingest(config, client, triggers, dispatcher, log, dead_letters, docs)
    if config.spool:
        if handover is not None:
            ingest.spool = SpoolWriter(home)
            # The child needs the limits, not the credentials: those stay in this process.
            limits = config.model_copy(update={"webhook_secret": None, "tokens": {}, "spool": False})
            spec = dataclasses.replace(handover, config=limits, nice=config.handover_nice)
            ingest.handover = HandoverProcess(spec)
        else:
            reader = SpoolReader(home)
            ingest.spool = SpoolWriter(home, on_written=reader.nudge)
            ingest.handover = Handover(reader, dispatcher, ingest.record_handed)
    return ingest


async def replay_dead_letter(
    settings: Settings, client: Client, catalog: Catalog, letter_id: str
) -> AlertOutcome:
    """``fireline alerts replay ID``: replay one dead letter against the current catalog."""
    # No spool here: the receiver's own process owns it.
    config = ReceiverConfig.from_env(settings.home.resolve()).model_copy(update={"spool": False})
    ingest = build_ingest(settings, client, catalog, elasticsearch_url=None, config=config)
    return await ingest.replay(letter_id)


__all__ = ["Ingest", "ReadyReport", "TemporalUnavailable", "build_ingest", "replay_dead_letter"]
