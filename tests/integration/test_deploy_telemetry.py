"""Metrics and traces of a real PlaybookRun on the local Temporal dev server.

The worker runs with fireline's interceptor (and Temporal's tracing interceptor), the run is
started as the receiver starts it, a human approves through the ``decide`` Update, and the
numbers a Prometheus scrape sees move; the spans form one trace from the alert to the step.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.testing import WorkflowEnvironment

from engine import client as fl
from engine import observability
from engine.metrics import REGISTRY, make_runtime, metrics_route
from engine.metrics_interceptor import FirelineInterceptor
from engine.observability import ObservabilitySettings, alert_span, build_tracer_provider, setup_tracing
from engine.plan.compile import compile_plan
from engine.plan.models import Plan
from engine.plan.state import Decision, RunState, RunStatus
from engine.settings import Settings
from engine.spec.catalog import validate_text
from engine.stack.processes import free_port
from engine.worker import build_worker, workflow_runner
from engine.workflows.playbook_run import PlaybookRun

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "fireline-dashboard.json"
PLAYBOOK = """
apiVersion: fireline/v1
kind: Playbook
metadata: { name: telemetry-check, version: 1 }
steps:
  - id: look
    uses: core.echo
    with: { message: "looking at {{ alert.title }}" }
  - id: approve
    approval: { title: "Contain?", approvers: [user:U1], timeout: 1h }
  - id: contain
    if: steps.approve.approved
    uses: core.echo
    with: { message: contained }
"""


def _plan() -> Plan:
    entry = validate_text(PLAYBOOK, "telemetry-check.yaml")
    assert entry.ok, entry.diagnostics
    return compile_plan(entry)


def _alert() -> dict[str, Any]:
    return {
        "id": f"a-{uuid.uuid4().hex[:8]}",
        "source": "generic",
        "rule": "r",
        "title": "Prompt injection {{ 7*7 }}",
        "severity": "high",
        "fingerprint": uuid.uuid4().hex,
        "entities": {},
        "fields": {},
    }


async def _scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Scrape /metrics as Prometheus would and index every sample by name and labels."""
    transport = httpx.ASGITransport(app=Starlette(routes=[metrics_route()]))
    async with httpx.AsyncClient(transport=transport, base_url="http://fireline") as http:
        text = (await http.get("/metrics")).text
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _value(scrape: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


async def _run_with_approval(client: Client, task_queue: str) -> RunState:
    """One run through the real worker; the client carries the interceptors under test."""
    plan = _plan()
    worker = build_worker(client, task_queue)
    async with worker:
        with alert_span("generic", "a-1", rule="r"):
            started = await fl.start_run(client, plan, _alert(), {}, task_queue=task_queue)
        for _ in range(200):
            state = await fl.status(client, started.run_id)
            if state.pending_approvals():
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # a measurable wait before the human answers
        await fl.decide(client, started.run_id, "approve", Decision.APPROVE, by="user:U1")
        handle = client.get_workflow_handle_for(PlaybookRun.run, started.run_id)
        return await asyncio.wait_for(handle.result(), 30)


async def _client(env: WorkflowEnvironment, *interceptors: Any, runtime: Runtime | None = None) -> Client:
    target = env.client.service_client.config.target_host
    return await Client.connect(
        target, interceptors=list(interceptors), data_converter=pydantic_data_converter, runtime=runtime
    )


async def test_a_run_moves_run_step_and_approval_metrics(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = await _client(temporal_env, FirelineInterceptor())
    before = await _scrape()
    state = await _run_with_approval(client, task_queue)
    assert state.status is RunStatus.SUCCEEDED
    after = await _scrape()

    def moved(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert moved("fireline_runs_started_total", playbook="telemetry-check") == 1
    assert moved("fireline_runs_finished_total", playbook="telemetry-check", outcome="succeeded") == 1
    step = {"playbook": "telemetry-check", "action": "core.echo", "status": "succeeded"}
    assert moved("fireline_step_duration_seconds_count", **step) == 2
    assert moved("fireline_approval_wait_seconds_count", playbook="telemetry-check", decision="approve") == 1
    waited = moved("fireline_approval_wait_seconds_sum", playbook="telemetry-check", decision="approve")
    assert 0.25 <= waited < 30


async def test_replaying_a_finished_run_counts_nothing_twice(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = await _client(temporal_env, FirelineInterceptor())
    state = await _run_with_approval(client, task_queue)
    before = await _scrape()
    history = await client.get_workflow_handle(state.run_id).fetch_history()
    from temporalio.worker import Replayer

    replayer = Replayer(
        workflows=[PlaybookRun],
        interceptors=[FirelineInterceptor()],
        workflow_runner=workflow_runner(),
        data_converter=pydantic_data_converter,
    )
    await replayer.replay_workflow(history)
    assert await _scrape() == before


async def test_sdk_metrics_are_served_by_the_runtime(
    temporal_env: WorkflowEnvironment, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("FIRELINE_OBSERVABILITY__TEMPORAL_METRICS_LISTEN", f"127.0.0.1:{port}")
    client = await _client(temporal_env, FirelineInterceptor(), runtime=make_runtime(Settings.load()))
    await _run_with_approval(client, task_queue)
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"temporal_request", "temporal_workflow_completed", "temporal_activity_execution_latency"} <= names
    assert 'service="fireline"' in text
    # Every Temporal metric the dashboard charts is one this runtime serves (failure counters
    # appear with the first failure, so they are named here instead).
    only_on_failure = {"temporal_request_failure", "temporal_workflow_failed"}
    assert _dashboard_metrics("temporal_") <= names | only_on_failure


def _dashboard_metrics(prefix: str) -> set[str]:
    """Metric family names the Grafana dashboard queries (suffixes _total/_bucket/... removed)."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    found = {m for e in exprs for m in re.findall(rf"\b({prefix}[a-z_]+)", e)}
    return {re.sub(r"_(total|bucket|count|sum)$", "", m) for m in found}


def test_the_dashboard_charts_every_fireline_metric_and_nothing_unknown() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    registered = {m.name for m in REGISTRY.collect()}
    assert _dashboard_metrics("fireline_") == registered
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"] == "fireline-overview"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.clear()


async def test_one_trace_runs_from_the_alert_to_each_step(
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    spans: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(observability, "_tracer_provider", None)  # restored after the test
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    interceptors = setup_tracing(provider=provider, set_global=False)
    assert interceptors, "tracing must switch on when a provider is given"
    client = await _client(temporal_env, *interceptors, FirelineInterceptor())
    state = await _run_with_approval(client, task_queue)
    assert state.status is RunStatus.SUCCEEDED
    provider.force_flush()
    finished: list[ReadableSpan] = list(spans.get_finished_spans())
    names = [s.name for s in finished]
    assert "StartWorkflow:PlaybookRun" in names
    assert "RunWorkflow:PlaybookRun" in names
    assert names.count("RunActivity:run_action") == 2
    start = next(s for s in finished if s.name == "StartWorkflow:PlaybookRun")
    steps = [s for s in finished if s.name == "RunActivity:run_action"]
    assert start.context is not None
    assert all(s.context is not None and s.context.trace_id == start.context.trace_id for s in steps)
    alert = next(s for s in finished if s.name == "fireline.alert")
    assert alert.context is not None and alert.context.trace_id == start.context.trace_id
    assert start.parent is not None and start.parent.span_id == alert.context.span_id
    assert dict(alert.attributes or {})["fireline.alert.source"] == "generic"


class _Collector(BaseHTTPRequestHandler):
    """A stand-in OpenTelemetry collector: keeps what is POSTed to it."""

    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_spans_are_exported_over_otlp_http_to_the_configured_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        obs = ObservabilitySettings(service_name="fireline-test")
        assert observability.tracing_enabled(obs)
        provider = build_tracer_provider(obs)
        with provider.get_tracer("t").start_as_current_span("fireline.alert"):
            pass
        assert provider.force_flush(5000)
        provider.shutdown()
    finally:
        server.shutdown()
        thread.join(5)
    (path, content_type, body), *_ = _Collector.received
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    assert b"fireline.alert" in body and b"fireline-test" in body
