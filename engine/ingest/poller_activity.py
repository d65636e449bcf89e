"""The ``poll_elastic_alerts`` activity: open Elastic Security alerts → runs → ``acknowledged``.

An alert that started or joined a run is acknowledged with a note naming the run (and a link,
when a Web UI address is known). Alerts that match no playbook, or that go to the dead-letter
store, stay open for analysts; they are logged once per process, not on every poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import elasticsearch
from temporalio import activity

from engine.alerts.elastic import normalize_elastic
from engine.alerts.model import Alert, AlertSource
from engine.alerts.payload import PayloadInvalid
from engine.errors import FirelineError
from engine.ingest.core import Ingest
from engine.ingest.es_refs import open_alerts
from engine.ingest.models import AlertOutcome, AlertStatus, RunDisposition, Via
from engine.ingest.poller import POLL_ACTIVITY, PollInput, PollReport
from integrations.elasticsearch.alerts import set_alert_status
from integrations.elasticsearch.models import AlertWorkflowStatus, SetAlertStatusParams

MAX_REMEMBERED = 10_000

RunUrl = Callable[[str], str | None]


def temporal_run_url(web_ui_url: str | None, namespace: str) -> RunUrl:
    """Links to runs in the Temporal Web UI (none without a UI address)."""

    def url(run_id: str) -> str | None:
        if not web_ui_url:
            return None
        return f"{web_ui_url.rstrip('/')}/namespaces/{namespace}/workflows/{run_id}"

    return url


def _note(outcome: AlertOutcome) -> tuple[str, str]:
    """The acknowledgement note and the run it names first."""
    runs = [p for p in outcome.playbooks if p.run_id and p.disposition is not RunDisposition.FAILED]
    parts = [f"{p.playbook} run {p.run_id} ({p.disposition.value.replace('_', ' ')})" for p in runs]
    return "fireline: " + "; ".join(parts), runs[0].run_id or ""


class ElasticPoller:
    """Holds what the activity needs: the ingestion path and an Elasticsearch client."""

    def __init__(
        self, ingest: Ingest, es: elasticsearch.Elasticsearch, *, run_url: RunUrl | None = None
    ) -> None:
        self.ingest = ingest
        self.es = es
        self.run_url = run_url or temporal_run_url(None, "default")
        self._reported: set[str] = set()

    @activity.defn(name=POLL_ACTIVITY)
    async def poll(self, request: PollInput) -> PollReport:
        """Poll once; Temporal being unavailable fails the attempt after acknowledging what was handled."""
        hits = await asyncio.to_thread(open_alerts, self.es, request.index, request.limit)
        report = PollReport(seen=len(hits))
        pending: list[tuple[Alert, dict[str, Any]]] = []
        received = datetime.now(UTC)
        for raw in hits:
            hit = {"_id": raw["_id"], "_index": raw["_index"], "_source": raw.get("_source") or {}}
            try:
                result = normalize_elastic([hit], received_at=received)
            except PayloadInvalid as exc:
                report.invalid += 1
                if self._first_time(f"invalid:{raw['_index']}/{raw['_id']}"):
                    reason = f"alert document {str(raw['_id'])[:80]} is invalid: {exc}"
                    self.ingest.record_rejection(AlertSource.ELASTIC.value, reason, via=Via.POLLER)
                continue
            pending += [(alert, hit) for alert in result.alerts]
        results = await asyncio.gather(
            *(self.ingest.dispatcher.dispatch(alert, via=Via.POLLER) for alert, _ in pending),
            return_exceptions=True,
        )
        problem: BaseException | None = None
        acks: dict[tuple[str, str, str], list[str]] = {}
        for (alert, hit), outcome in zip(pending, results, strict=True):
            if isinstance(outcome, BaseException):
                problem = problem or outcome
                continue
            self._account(report, alert, outcome, hit, acks)
        await self._acknowledge(acks, report)
        if problem is not None:
            raise problem
        return report

    def _account(
        self,
        report: PollReport,
        alert: Alert,
        outcome: AlertOutcome,
        hit: dict[str, Any],
        acks: dict[tuple[str, str, str], list[str]],
    ) -> None:
        if outcome.status in (AlertStatus.STARTED, AlertStatus.JOINED):
            report.started += outcome.status is AlertStatus.STARTED
            report.joined += outcome.status is AlertStatus.JOINED
            note, run_id = _note(outcome)
            report.runs += [p.run_id for p in outcome.playbooks if p.run_id and p.run_id not in report.runs]
            acks.setdefault((hit["_index"], note, run_id), []).append(hit["_id"])
            self.ingest.record(outcome, via=Via.POLLER)
            return
        if outcome.status is AlertStatus.NO_MATCH:
            report.no_match += 1
        else:
            report.failed += 1
        # Left open for analysts: log it once, not on every poll.
        if self._first_time(f"{outcome.status.value}:{alert.id}"):
            self.ingest.record(outcome, via=Via.POLLER)

    async def _acknowledge(self, acks: dict[tuple[str, str, str], list[str]], report: PollReport) -> None:
        for (index, note, run_id), ids in acks.items():
            params = SetAlertStatusParams(
                ids=ids,
                index=index,
                status=AlertWorkflowStatus.ACKNOWLEDGED,
                note=note,
                run_url=self.run_url(run_id),
            )
            try:
                result = await asyncio.to_thread(set_alert_status, self.es, params, run_id=run_id)
            except FirelineError as exc:
                report.ack_errors.append(f"{index}: {str(exc)[:200]}")
                continue
            report.acknowledged += len(result.updated) + len(result.unchanged)

    def _first_time(self, key: str) -> bool:
        if key in self._reported:
            return False
        if len(self._reported) >= MAX_REMEMBERED:
            self._reported.clear()
        self._reported.add(key)
        return True
