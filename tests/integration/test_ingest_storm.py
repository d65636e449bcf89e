"""An alert storm on the real receiver and dev server: one run per incident, no alert lost."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from engine.client import status
from engine.ingest.alert_log import recent_alerts
from engine.ingest.auth import SIGNATURE_HEADER, sign
from tests.fixtures.ingest import (
    SECRET,
    make_ingest,
    playbook_yaml,
    running_receiver,
    running_worker,
    unique,
    write_catalog,
)

pytestmark = pytest.mark.integration

ALERTS = 200
FINGERPRINTS = 5
SENDERS = 40


async def test_a_storm_gives_one_run_per_fingerprint_with_every_alert_recorded(
    tmp_path: Path, client: Client, task_queue: str
) -> None:
    trigger = 'any: [{source: generic, match: {rule: "storm-*"}}]\ndedup: {window: 1h}'
    catalog = write_catalog(tmp_path / "pb", playbook_yaml(unique("storm"), trigger))
    ingest = make_ingest(tmp_path, client, task_queue, catalog)

    async def send(http: httpx.AsyncClient, url: str, i: int) -> tuple[str, dict[str, object]]:
        fingerprint = f"fp-{i % FINGERPRINTS}"
        doc = {
            "id": f"storm-{i}",
            "rule": "storm-token-burn",
            "title": f"burn {i}",
            "fingerprint": fingerprint,
        }
        body = json.dumps(doc).encode()
        headers = {SIGNATURE_HEADER: sign(SECRET, body), "Content-Type": "application/json"}
        response = await http.post(f"{url}/alerts/generic", content=body, headers=headers)
        assert response.status_code == 202, response.text
        return fingerprint, response.json()["alerts"][0]

    async def sender(url: str, numbers: range) -> list[tuple[str, dict[str, object]]]:
        # One connection per concurrent sender, like real alert sources (plain HTTP: no TLS setup).
        async with httpx.AsyncClient(timeout=60, verify=False) as http:
            return [await send(http, url, i) for i in numbers]

    async with running_worker(client, task_queue) as leftovers, running_receiver(ingest) as url:
        per_sender = ALERTS // SENDERS
        batches = await asyncio.gather(
            *(sender(url, range(k * per_sender, (k + 1) * per_sender)) for k in range(SENDERS))
        )
        results = [item for batch in batches for item in batch]
        runs_by_fp: dict[str, set[str]] = defaultdict(set)
        for fingerprint, outcome in results:
            runs_by_fp[fingerprint].add(outcome["playbooks"][0]["run_id"])  # type: ignore[index]
        assert all(len(runs) == 1 for runs in runs_by_fp.values()) and len(runs_by_fp) == FINGERPRINTS
        assert Counter(o["status"] for _, o in results) == {
            "started": FINGERPRINTS,
            "joined": ALERTS - FINGERPRINTS,
        }
        states = [await status(client, next(iter(runs))) for runs in runs_by_fp.values()]
        leftovers |= {s.run_id for s in states}
    for state in states:
        recorded = {state.alert_id} | {a.id for a in state.joined_alerts}
        assert len(recorded) == ALERTS // FINGERPRINTS
    everything = set().union(*({s.alert_id} | {a.id for a in s.joined_alerts} for s in states))
    assert everything == {f"storm-{i}" for i in range(ALERTS)}
    assert len(recent_alerts(tmp_path, 1000)) == ALERTS
