"""Prometheus metrics: what fireline counts, where it is served, and the Temporal SDK's own.

fireline's metrics live in :data:`REGISTRY` (prometheus-client). The receiver serves them on its
own port at ``/metrics`` (:func:`metrics_route`, unauthenticated like ``/healthz``: counters with
bounded labels, never alert data or secrets); the ingestion path counts each alert it accepts or
refuses (:func:`alert_received`, :func:`alert_rejected`, :func:`alert_deduplicated`). The worker
serves them with :func:`serve_metrics` (``/metrics`` and ``/healthz``). Worker
side counts come from :class:`FirelineInterceptor`: steps (activity attempts), runs and approval
waits, recorded outside the workflow sandbox and never during replay. The Temporal SDK's metrics
are served by its own exporter, configured by :func:`make_runtime`.

Label values are bounded: sources and reasons are enums, and free text is cut to a safe charset,
so alert data (attacker-controlled) can never blow up the number of series.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

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
from temporalio import client, workflow
from temporalio.exceptions import FailureError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from engine.alerts.model import AlertSource
from engine.ingest.models import AlertStatus
from engine.observability import bind_log_context, observability_settings, split_listen
from engine.plan.state import RunState, RunStatus, StepRecord, StepStatus
from engine.workflows.types import DECIDE_UPDATE, ActionRequest, RunInput

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


# --- worker interceptor ----------------------------------------------------------------------

_EXTERN = "__fireline_metrics"


def _record(kind: str, playbook: str, outcome: str, seconds: float = 0.0) -> None:
    """Called from inside the workflow sandbox (through an extern function), outside of it."""
    if kind == "run_started":
        run_started(playbook)
    elif kind == "run_finished":
        run_finished(playbook, RunStatus(outcome))
    elif kind == "approval":
        approval_decided(playbook, ApprovalOutcome(outcome), seconds)


class FirelineInterceptor(client.Interceptor, Interceptor):
    """Step, run and approval metrics, and run/step ids on activity log lines.

    Give it to ``Client.connect(interceptors=...)`` (every worker of that client then uses it) or
    to ``Worker(interceptors=...)``, not both: each copy would count.
    """

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        input.unsafe_extern_functions[_EXTERN] = _record
        return _WorkflowInbound


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        request = next((a for a in input.args if isinstance(a, ActionRequest)), None)
        if request is None:
            return await super().execute_activity(input)
        started = time.perf_counter()
        status = StepStatus.FAILED
        fields = {"run_id": request.run_id, "step_id": request.path, "playbook": request.playbook}
        try:
            with bind_log_context(**fields, action=request.action):
                result = await super().execute_activity(input)
            status = StepStatus.SUCCEEDED
            return result
        except asyncio.CancelledError:
            status = StepStatus.CANCELLED
            raise
        finally:
            step_finished(request.playbook, request.action, status, time.perf_counter() - started)


def _seconds(start: datetime, end: datetime | None) -> float:
    return (end - start).total_seconds() if end is not None else 0.0


class _WorkflowInbound(WorkflowInboundInterceptor):
    """Runs in the sandbox: reports through the extern function, and only when not replaying."""

    playbook = "unknown"

    def _report(self, kind: str, outcome: str, seconds: float = 0.0) -> None:
        if workflow.unsafe.is_replaying():
            return
        record: Callable[..., None] | None = workflow.extern_functions().get(_EXTERN)
        if record is not None:
            record(kind, self.playbook, outcome, seconds)

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        run_input = next((a for a in input.args if isinstance(a, RunInput)), None)
        if run_input is None:
            return await super().execute_workflow(input)
        self.playbook = run_input.plan.name
        self._report("run_started", "")
        try:
            result = await super().execute_workflow(input)
        except asyncio.CancelledError:
            self._report("run_finished", RunStatus.CANCELLED.value)
            raise
        except FailureError:
            # Only these fail the run; any other exception fails the task, which Temporal retries.
            self._report("run_finished", RunStatus.FAILED.value)
            raise
        if isinstance(result, RunState):
            self._report("run_finished", result.status.value)
            for step in result.steps:
                approval = step.approval
                if approval is not None and approval.timed_out:
                    wait = _seconds(approval.requested_at, approval.decided_at or approval.deadline)
                    self._report("approval", ApprovalOutcome.TIMED_OUT.value, wait)
        return result

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        result = await super().handle_update_handler(input)
        if input.update == DECIDE_UPDATE and isinstance(result, StepRecord) and result.approval is not None:
            approval = result.approval
            if approval.decision is not None and not approval.timed_out:
                wait = _seconds(approval.requested_at, approval.decided_at)
                self._report("approval", ApprovalOutcome(approval.decision.value).value, wait)
        return result


def worker_interceptors() -> list[Interceptor]:
    """What to pass as ``Worker(interceptors=...)`` when the client does not carry them already."""
    return [FirelineInterceptor()]


def sample_value(registry: CollectorRegistry, name: str, labels: Mapping[str, str]) -> float:
    """The current value of one sample (0 when absent); for checks and tests."""
    value = registry.get_sample_value(name, dict(labels))
    return value if value is not None else 0.0
