"""fireline's Prometheus metrics: scraped the way Prometheus scrapes them, and bounded labels."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from engine import metrics
from engine.metrics import ApprovalOutcome, RejectReason, metrics_route, serve_metrics
from engine.plan.state import RunStatus, StepStatus
from engine.stack.processes import free_port

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def _scrape(app: Starlette) -> tuple[httpx.Response, Samples]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as http:
        response = await http.get("/metrics")
    return response, _parse(response.text)


def _get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_the_receiver_route_serves_counters_that_move() -> None:
    app = Starlette(routes=[metrics_route()])
    _, before = await _scrape(app)
    metrics.alert_received("elastic", "started")
    metrics.alert_received("elastic", "failed")
    metrics.alert_rejected("generic", RejectReason.INVALID_JSON)
    metrics.alert_deduplicated("alertmanager", "contain-model")
    metrics.run_started("contain-model")
    metrics.run_finished("contain-model", RunStatus.FAILED)
    response, after = await _scrape(app)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")

    def moved(name: str, **labels: str) -> float:
        return _get(after, name, **labels) - _get(before, name, **labels)

    assert moved("fireline_alerts_received_total", source="elastic", status="started") == 1
    assert moved("fireline_alerts_received_total", source="elastic", status="failed") == 1
    assert moved("fireline_alerts_rejected_total", source="generic", reason="invalid_json") == 1
    assert moved("fireline_alerts_deduplicated_total", source="alertmanager", playbook="contain-model") == 1
    assert moved("fireline_runs_started_total", playbook="contain-model") == 1
    assert moved("fireline_runs_finished_total", playbook="contain-model", outcome="failed") == 1


async def test_histograms_count_and_sum_what_was_observed() -> None:
    app = Starlette(routes=[metrics_route()])
    _, before = await _scrape(app)
    metrics.step_finished("contain-model", "slack.post_message", StepStatus.SUCCEEDED, 0.2)
    metrics.step_finished("contain-model", "slack.post_message", StepStatus.SUCCEEDED, 0.4)
    metrics.approval_decided("contain-model", ApprovalOutcome.REJECT, 600)
    _, after = await _scrape(app)
    step = {"playbook": "contain-model", "action": "slack.post_message", "status": "succeeded"}
    assert (
        _get(after, "fireline_step_duration_seconds_count", **step)
        - _get(before, "fireline_step_duration_seconds_count", **step)
        == 2
    )
    added = _get(after, "fireline_step_duration_seconds_sum", **step) - _get(
        before, "fireline_step_duration_seconds_sum", **step
    )
    assert abs(added - 0.6) < 1e-9
    fast = _get(after, "fireline_step_duration_seconds_bucket", **step, le="0.25") - _get(
        before, "fireline_step_duration_seconds_bucket", **step, le="0.25"
    )
    assert fast == 1
    wait = {"playbook": "contain-model", "decision": "reject"}
    assert _get(after, "fireline_approval_wait_seconds_bucket", **wait, le="600.0") >= 1


async def test_attacker_controlled_values_cannot_invent_series() -> None:
    app = Starlette(routes=[metrics_route()])
    metrics.alert_received("' OR 1=1 --" * 20, "DROP TABLE alerts" * 20)
    metrics.alert_deduplicated("elastic", 'bad"name}\n{x="1"' * 10)
    response, samples = await _scrape(app)
    sources = {dict(labels).get("source") for (name, labels) in samples if name.startswith("fireline_alerts")}
    assert sources <= {"elastic", "alertmanager", "generic", "schedule", "manual", "other"}
    statuses = {dict(labels)["status"] for (name, labels) in samples if "received" in name}
    assert statuses <= {"started", "joined", "no_match", "resolved", "failed", "other"}
    playbooks = [dict(labels)["playbook"] for (name, labels) in samples if "deduplicated" in name]
    assert all(len(p) <= 64 and '"' not in p and "\n" not in p for p in playbooks)
    assert "OR 1=1" not in response.text and "DROP TABLE" not in response.text


async def test_the_worker_serves_metrics_and_health_on_its_own_port() -> None:
    port = free_port()
    stop = asyncio.Event()
    server = asyncio.create_task(serve_metrics(f"127.0.0.1:{port}", stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(100):
                try:
                    health = await http.get("/healthz")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.02)
            metrics.run_started("worker-port-check")
            scraped = await http.get("/metrics")
    finally:
        stop.set()
        await asyncio.wait_for(server, 5)
    assert health.json() == {"status": "ok"}
    assert _get(_parse(scraped.text), "fireline_runs_started_total", playbook="worker-port-check") == 1


def test_refusals_map_to_a_few_known_reasons() -> None:
    assert metrics.reject_reason(400, "invalid_json") is RejectReason.INVALID_JSON
    assert metrics.reject_reason(422, "invalid_payload") is RejectReason.INVALID_ALERT
    assert metrics.reject_reason(401, "bad_signature") is RejectReason.UNAUTHORIZED
    assert metrics.reject_reason(429, "slow_down") is RejectReason.RATE_LIMITED
    assert metrics.reject_reason(418, "<script>") is RejectReason.BAD_REQUEST
    assert metrics.reject_reason(503, "unavailable") is RejectReason.UNAVAILABLE
    assert metrics.reject_reason(500, "internal") is RejectReason.INTERNAL
