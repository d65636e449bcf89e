"""The receiver's ``/metrics``: real signed alerts in, counters out, scraped by Debian's Prometheus."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from engine.ingest.auth import SIGNATURE_HEADER, sign
from engine.ingest.handover_process import HandoverProcess
from engine.spec.catalog import Catalog
from tests.fixtures.ingest import (
    SECRET,
    make_ingest,
    playbook_yaml,
    running_receiver,
    running_worker,
    signed_config,
    unique,
    write_catalog,
)
from tests.fixtures.prometheus import running_prometheus

pytestmark = pytest.mark.integration
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
STATUSES = ("started", "joined", "failed")

TRIGGER = """
any:
  - source: generic
    match: {rule: "%s"}
dedup: {key: "{{ alert.fingerprint }}", window: 1h}
"""


async def post(url: str, doc: object, *, source: str = "generic", **headers: str) -> httpx.Response:
    body = json.dumps(doc).encode() if not isinstance(doc, bytes) else doc
    sent = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(SECRET, body), **headers}
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(f"{url}/alerts/{source}", content=body, headers=sent)


def alert(rule: str, fingerprint: str) -> dict[str, object]:
    return {"id": f"m-{uuid.uuid4().hex[:8]}", "rule": rule, "title": "jailbreak", "fingerprint": fingerprint}


async def scrape(url: str) -> tuple[httpx.Response, Samples]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{url}/metrics")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return response, samples


def gateway_and_ticket(tmp_path: Path, prefix: str) -> tuple[str, Catalog]:
    """A gateway playbook (its name returned) and a ticket playbook whose required input alerts lack."""
    gateway, ticket = unique(f"{prefix}-gw"), unique(f"{prefix}-ticket")
    needs_input = playbook_yaml(ticket, TRIGGER % "ticket-*").replace(
        "steps:", "inputs:\n  ticket: {type: string, required: true}\nsteps:"
    )
    return gateway, write_catalog(tmp_path / "pb", playbook_yaml(gateway, TRIGGER % "gateway-*"), needs_input)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_every_outcome_of_real_requests_moves_a_bounded_counter(
    tmp_path: Path, client: Client, task_queue: str
) -> None:
    gateway, catalog = gateway_and_ticket(tmp_path, "metrics")
    ingest = make_ingest(tmp_path, client, task_queue, catalog)
    hostile = f'fp-{uuid.uuid4().hex}-evil"}}'
    async with running_worker(client, task_queue) as leftovers, running_receiver(ingest) as url:
        _, before = await scrape(url)
        first = await post(url, alert("gateway-jailbreak", hostile))
        again = await post(url, alert("gateway-jailbreak", hostile))
        unmatched = await post(url, alert("nothing-matches", "fp-x"))
        dead = await post(url, alert("ticket-missing", "fp-y"))
        forged = await post(url, alert("gateway-jailbreak", "fp-z"), **{SIGNATURE_HEADER: "t=1,v1=00"})
        broken = await post(url, b"{not json")
        wrong_type = await post(url, alert("gateway-jailbreak", "fp-w"), **{"Content-Type": "text/plain"})
        unknown = await post(url, alert("gateway-jailbreak", "fp-v"), source="nonsense")
        response, after = await scrape(url)
        leftovers.add(first.json()["alerts"][0]["playbooks"][0]["run_id"])

    assert [r.status_code for r in (first, again, unmatched, dead)] == [202] * 4
    assert [r.status_code for r in (forged, broken, wrong_type, unknown)] == [401, 400, 415, 404]
    assert dead.json()["alerts"][0]["dead_letter"]
    assert response.status_code == 200 and response.headers["content-type"] == CONTENT_TYPE_LATEST
    received = "fireline_alerts_received_total"
    assert moved(before, after, received, source="generic", status="started") == 1
    assert moved(before, after, received, source="generic", status="joined") == 1
    assert moved(before, after, received, source="generic", status="no_match") == 1
    assert moved(before, after, received, source="generic", status="failed") == 1
    rejected = "fireline_alerts_rejected_total"
    assert moved(before, after, rejected, source="generic", reason="unauthorized") == 1
    assert moved(before, after, rejected, source="generic", reason="invalid_json") == 1
    assert moved(before, after, rejected, source="generic", reason="unsupported_media_type") == 1
    assert moved(before, after, rejected, source="other", reason="unknown_source") == 1
    deduplicated = "fireline_alerts_deduplicated_total"
    assert moved(before, after, deduplicated, source="generic", playbook=gateway) == 1
    # Alert data and secrets never become label values.
    assert hostile[:20] not in response.text and "jailbreak" not in response.text
    assert SECRET not in response.text


async def test_debians_prometheus_scrapes_the_alert_counters(
    tmp_path: Path, client: Client, task_queue: str
) -> None:
    name = unique("metrics-prom")
    catalog = write_catalog(tmp_path / "pb", playbook_yaml(name, TRIGGER % "gateway-*"))
    ingest = make_ingest(tmp_path, client, task_queue, catalog)
    job = "fireline-receiver"
    started = f'fireline_alerts_received_total{{job="{job}",source="generic",status="started"}}'
    joined = f'fireline_alerts_received_total{{job="{job}",source="generic",status="joined"}}'
    refused = f'fireline_alerts_rejected_total{{job="{job}",source="generic",reason="unauthorized"}}'
    async with running_worker(client, task_queue) as leftovers, running_receiver(ingest) as url:
        target = url.removeprefix("http://")
        async with running_prometheus(tmp_path / "prometheus", job, [target]) as prometheus:
            assert await prometheus.wait_for(f'up{{job="{job}"}}', 1) == 1
            counts = [await prometheus.value(q) or 0.0 for q in (started, joined, refused)]
            fingerprint = uuid.uuid4().hex
            first = await post(url, alert("gateway-jailbreak", fingerprint))
            leftovers.add(first.json()["alerts"][0]["playbooks"][0]["run_id"])
            await post(url, alert("gateway-jailbreak", fingerprint))
            await post(url, alert("gateway-jailbreak", fingerprint))
            for _ in range(3):
                await post(url, alert("gateway-jailbreak", "fp"), **{SIGNATURE_HEADER: "t=1,v1=00"})
            seen = [
                await prometheus.wait_for(started, counts[0] + 1),
                await prometheus.wait_for(joined, counts[1] + 2),
                await prometheus.wait_for(refused, counts[2] + 3),
            ]
            assert seen == [counts[0] + 1, counts[1] + 2, counts[2] + 3]
            # No series Prometheus stored carries what the alerts did.
            stored = json.dumps(await prometheus.query(f'{{job="{job}"}}'))
            assert "fireline_alerts_received_total" in stored and fingerprint not in stored


async def test_alerts_the_hand_over_process_hands_over_move_the_receivers_counters(
    tmp_path: Path, client: Client, task_queue: str
) -> None:
    gateway, catalog = gateway_and_ticket(tmp_path, "metrics-child")
    config = signed_config(spool=True, handover_nice=4)
    ingest = make_ingest(tmp_path, client, task_queue, catalog, config=config, handover_process=True)
    assert isinstance(ingest.handover, HandoverProcess)
    fingerprint = f"fp-{uuid.uuid4().hex}"
    async with running_worker(client, task_queue) as leftovers, running_receiver(ingest) as url:
        ingest.handover.start()
        try:
            _, before = await scrape(url)
            first = await post(url, alert("gateway-jailbreak", fingerprint))
            again = await post(url, alert("gateway-jailbreak", fingerprint))
            dead = await post(url, alert("ticket-missing", "fp-y"))
            leftovers.add(first.json()["alerts"][0]["playbooks"][0]["run_id"])
            received = "fireline_alerts_received_total"
            deadline = time.monotonic() + 30
            while True:  # counted in the child, moved here once it reports
                _, after = await scrape(url)
                counts = [moved(before, after, received, source="generic", status=s) for s in STATUSES]
                pending = after.get(("fireline_alert_spool_pending", ()))
                if (counts == [1, 1, 1] and pending == 0) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            async with httpx.AsyncClient(timeout=10) as http:
                ready = (await http.get(f"{url}/readyz")).json()
            child = ingest.handover.pid
            assert child is not None and child != os.getpid()
            niceness = os.getpriority(os.PRIO_PROCESS, child) - os.getpriority(os.PRIO_PROCESS, 0)
        finally:
            await ingest.handover.stop()
    assert [r.status_code for r in (first, again, dead)] == [202] * 3
    assert counts == [1, 1, 1] and pending == 0  # the spool's depth, as the child reports it
    assert ready["handover_running"] is True and ready["spool_pending"] == 0
    assert moved(before, after, "fireline_alerts_deduplicated_total", source="generic", playbook=gateway) == 1
    assert niceness == min(4, 19 - os.getpriority(os.PRIO_PROCESS, 0))  # as configured
    assert ingest.handover.pid is None and not Path(f"/proc/{child}").exists()  # stopped with the receiver
