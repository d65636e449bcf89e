"""Prometheus metrics: what fireline counts, where it is served, and the Temporal SDK's own.

fireline's metrics live in :data:`REGISTRY` (prometheus-client). The receiver serves them on its
own port at ``/metrics`` (:func:`metrics_route`, unauthenticated like ``/healthz``: counters with
bounded labels, never alert data or secrets); the ingestion path counts each alert it accepts or
refuses (:func:`alert_received`, :func:`alert_rejected`, :func:`alert_deduplicated`). The worker
serves them with :func:`serve_metrics` (``/metrics`` and ``/healthz``). Worker
side counts come from :class:`~engine.metrics_interceptor.FirelineInterceptor`. The Temporal SDK's
metrics are served by its own exporter, configured by :func:`make_runtime`.

Label values are bounded: sources and reasons are enums, and free text is cut to a safe charset,
so alert data (attacker-controlled) can never blow up the number of series.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.alerts.model import AlertSource
from engine.ingest.models import AlertStatus
from engine.observability import observability_settings, split_listen
from engine.plan.state import RunStatus, StepStatus

if TYPE_CHECKING:
    from temporalio.runtime import Runtime

    from engine.settings import Settings

REGISTRY = CollectorRegistry()
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
APPROVAL_BUCKETS = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400, 259200)

ALERTS_RECEIVED = Counter(
    "fireline_alerts_received",
    "Alerts accepted (receiver and poller), by what became of them: started, joined, no_match,"
    " resolved, failed (dead-lettered).",
    ["source", "status"],
    registry=REGISTRY,
)
ALERTS_REJECTED = Counter(
    "fireline_alerts_rejected",
    "Alerts refused by the receiver, by reason.",
    ["source", "reason"],
    registry=REGISTRY,
)
ALERTS_DEDUPLICATED = Counter(
    "fireline_alerts_deduplicated",
    "Alerts that joined the open run of the same incident instead of starting one.",
    ["source", "playbook"],
    registry=REGISTRY,
)
SPOOL_PENDING = Gauge(
    "fireline_alert_spool_pending",
    "Alerts the receiver acknowledged that its hand-over has not yet given to Temporal.",
    registry=REGISTRY,
)
HANDOVER_RESTARTS = Counter(
    "fireline_alert_handover_restarts",
    "Times the receiver started its hand-over process again after it died.",
    registry=REGISTRY,
)
AUDIT_PENDING = Gauge(
    "fireline_audit_events_pending",
    "Audit events a worker took from its runs that Elasticsearch has not stored yet.",
    registry=REGISTRY,
)
AUDIT_DROPPED = Counter(
    "fireline_audit_events_dropped",
    "Audit events a worker dropped unwritten while Elasticsearch refused writes (a replay rewrites them).",
    registry=REGISTRY,
)
RUNS_STARTED = Counter("fireline_runs_started", "Playbook runs started.", ["playbook"], registry=REGISTRY)
RUNS_FINISHED = Counter(
    "fireline_runs_finished",
    "Playbook runs finished, by outcome.",
    ["playbook", "outcome"],
    registry=REGISTRY,
)
STEP_DURATION = Histogram(
    "fireline_step_duration_seconds",
    "Duration of one attempt of one action step.",
    ["playbook", "action", "status"],
    buckets=STEP_BUCKETS,
    registry=REGISTRY,
)
APPROVAL_WAIT = Histogram(
    "fireline_approval_wait_seconds",
    "Time from an approval request to its decision (or timeout).",
    ["playbook", "decision"],
    buckets=APPROVAL_BUCKETS,
    registry=REGISTRY,
)

_SAFE_LABEL = re.compile(r"[^A-Za-z0-9._:/-]")
_SOURCES = frozenset(s.value for s in AlertSource)
_STATUSES = frozenset(s.value for s in AlertStatus if s is not AlertStatus.REJECTED)


class RejectReason(StrEnum):
    """Why the receiver refused an alert (a bounded label)."""

    UNAUTHORIZED = "unauthorized"
    TOO_LARGE = "too_large"
    INVALID_JSON = "invalid_json"
    INVALID_ALERT = "invalid_alert"
    UNKNOWN_SOURCE = "unknown_source"
    NO_PLAYBOOK = "no_playbook"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    BAD_REQUEST = "bad_request"
    START_FAILED = "start_failed"
    UNAVAILABLE = "unavailable"  # Temporal or Elasticsearch did not answer (503, retry)
    DISCONNECTED = "disconnected"  # the sender went away before the body arrived
    INTERNAL = "internal"  # a receiver bug (500)


_BY_STATUS = {
    401: RejectReason.UNAUTHORIZED,
    403: RejectReason.UNAUTHORIZED,
    404: RejectReason.UNKNOWN_SOURCE,
    408: RejectReason.TIMEOUT,
    413: RejectReason.TOO_LARGE,
    415: RejectReason.UNSUPPORTED_MEDIA_TYPE,
    429: RejectReason.RATE_LIMITED,
    500: RejectReason.INTERNAL,
    503: RejectReason.UNAVAILABLE,
}


def reject_reason(http_status: int, code: str) -> RejectReason:
    """The bounded reason for a refused request, from the receiver's status and error code."""
    try:
        return RejectReason(code)
    except ValueError:
        pass
    if code in ("invalid_payload", "invalid_alert", "unknown_id"):
        return RejectReason.INVALID_ALERT
    return _BY_STATUS.get(http_status, RejectReason.BAD_REQUEST)


class ApprovalOutcome(StrEnum):
    """How an approval ended (a bounded label)."""

    APPROVE = "approve"
    REJECT = "reject"
    TIMED_OUT = "timed_out"


def label(value: object, limit: int = 64) -> str:
    """A label value safe for Prometheus: a bounded charset and length."""
    text = _SAFE_LABEL.sub("_", str(value))[:limit]
    return text or "unknown"


def _source(source: str) -> str:
    return source if source in _SOURCES else "other"


def alert_received(source: str, status: str) -> None:
    """Count an accepted alert by what became of it (an :class:`AlertStatus` value)."""
    ALERTS_RECEIVED.labels(_source(source), status if status in _STATUSES else "other").inc()


def alert_rejected(source: str, reason: RejectReason) -> None:
    """Count an alert the receiver refused."""
    ALERTS_REJECTED.labels(_source(source), reason.value).inc()


def alert_deduplicated(source: str, playbook: str) -> None:
    """Count an alert that joined an open run."""
    ALERTS_DEDUPLICATED.labels(_source(source), label(playbook)).inc()


def spool_pending(count: int) -> None:
    """Set how many acknowledged alerts wait in the spool."""
    SPOOL_PENDING.set(max(count, 0))


def audit_pending(count: int) -> None:
    """Set how many audit events wait for Elasticsearch."""
    AUDIT_PENDING.set(count)


def audit_dropped() -> None:
    """Count an audit event dropped unwritten."""
    AUDIT_DROPPED.inc()


def handover_restarted() -> None:
    """Count a hand-over process started again after it died."""
    HANDOVER_RESTARTS.inc()


def run_started(playbook: str) -> None:
    """Count a run that started."""
    RUNS_STARTED.labels(label(playbook)).inc()


def run_finished(playbook: str, outcome: RunStatus) -> None:
    """Count a run that finished."""
    RUNS_FINISHED.labels(label(playbook), outcome.value).inc()


def step_finished(playbook: str, action: str, status: StepStatus, seconds: float) -> None:
    """Record one action attempt's duration."""
    STEP_DURATION.labels(label(playbook), label(action), status.value).observe(max(seconds, 0.0))


def approval_decided(playbook: str, outcome: ApprovalOutcome, seconds: float) -> None:
    """Record how long an approval waited."""
    APPROVAL_WAIT.labels(label(playbook), outcome.value).observe(max(seconds, 0.0))


# --- serving ---------------------------------------------------------------------------------


def metrics_route(path: str = "/metrics", registry: CollectorRegistry = REGISTRY) -> Route:
    """A Starlette route serving ``registry`` in the Prometheus text format."""

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Route(path, metrics, methods=["GET"])


def metrics_app(registry: CollectorRegistry = REGISTRY) -> Starlette:
    """``/metrics`` and ``/healthz`` for a process with no other HTTP server (the worker)."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[metrics_route(registry=registry), Route("/healthz", healthz, methods=["GET"])])


async def serve_metrics(listen: str, stop: asyncio.Event, registry: CollectorRegistry = REGISTRY) -> None:
    """Serve :func:`metrics_app` on ``listen`` (host:port) until ``stop`` is set."""
    import uvicorn

    host, port = split_listen(listen)
    config = uvicorn.Config(
        metrics_app(registry), host=host, port=port, log_level="warning", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await stop.wait()
    finally:
        server.should_exit = True
        await task


def make_runtime(settings: Settings) -> Runtime:
    """A Temporal runtime that serves the SDK's metrics on ``observability.temporal_metrics_listen``.

    Create it once per process and pass it to ``Client.connect(runtime=...)``. Without that setting
    this is the default runtime (no SDK metrics endpoint).
    """
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

    listen = observability_settings(settings).temporal_metrics_listen
    if listen is None:
        return Runtime.default()
    host, port = split_listen(listen)
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    prometheus = PrometheusConfig(bind_address=bind, counters_total_suffix=True, durations_as_seconds=True)
    return Runtime(telemetry=TelemetryConfig(metrics=prometheus, global_tags={"service": "fireline"}))


def sample_value(registry: CollectorRegistry, name: str, labels: Mapping[str, str]) -> float:
    """The current value of one sample (0 when absent); for checks and tests."""
    value = registry.get_sample_value(name, dict(labels))
    return value if value is not None else 0.0
