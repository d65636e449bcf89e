"""``kill -9`` of the receiver mid-storm: every alert it acknowledged ends up on its incident's run.

The receiver answers 202 once an alert is in its spool; killed and restarted on the same spool,
it hands over what it had acknowledged. Senders retry what got no answer, as real ones do. Counted,
not timed: each acknowledged alert is on the one run of its fingerprint, and nothing else started.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import httpx
from temporalio.client import Client

from engine.client import status
from engine.ingest.auth import SIGNATURE_HEADER, sign
from engine.ingest.spool import pending_count
from engine.stack.processes import free_port
from tests.fixtures.ingest import SECRET, playbook_yaml, running_worker, unique, write_catalog

ROOT = Path(__file__).parents[2]
ALERTS = 240
FINGERPRINTS = 12
SENDERS = 12


def start_receiver(address: str, queue: str, home: Path, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.spool_receiver", address, queue, str(home), str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().startswith("ready ")
    return proc


async def test_kill_9_of_the_receiver_loses_no_acknowledged_alert(
    tmp_path: Path, client: Client, task_queue: str
) -> None:
    trigger = 'any: [{source: generic, match: {rule: "kill-*"}}]\ndedup: {window: 1h}'
    write_catalog(tmp_path / "pb", playbook_yaml(unique("killed"), trigger))
    address = client.service_client.config.target_host
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    receiver = start_receiver(address, task_queue, tmp_path, port)
    acknowledged: dict[str, tuple[str, str]] = {}  # alert id → (fingerprint, run id)

    async def send(http: httpx.AsyncClient, i: int) -> None:
        doc = {
            "id": f"kill-{i}",
            "rule": "kill-burst",
            "title": f"burst {i}",
            "fingerprint": f"fp-{i % FINGERPRINTS}",
        }
        body = json.dumps(doc).encode()
        headers = {SIGNATURE_HEADER: sign(SECRET, body), "Content-Type": "application/json"}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                response = await http.post(f"{url}/alerts/generic", content=body, headers=headers)
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
                continue
            if response.status_code == 202:
                outcome = response.json()["alerts"][0]
                acknowledged[doc["id"]] = (doc["fingerprint"], outcome["playbooks"][0]["run_id"])
                return
            assert response.status_code >= 500, response.text
            await asyncio.sleep(0.1)
        raise AssertionError(f"{doc['id']} was never acknowledged")

    async def sender(numbers: range) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            for i in numbers:
                await send(http, i)

    async with running_worker(client, task_queue) as leftovers:
        per = ALERTS // SENDERS
        storm = asyncio.gather(*(sender(range(k * per, (k + 1) * per)) for k in range(SENDERS)))
        while len(acknowledged) < ALERTS // 3:
            await asyncio.sleep(0.01)
        os.kill(receiver.pid, signal.SIGKILL)  # mid-storm: some alerts acknowledged, not handed over
        receiver.wait(10)
        acknowledged_before_kill = len(acknowledged)
        receiver = start_receiver(address, task_queue, tmp_path, port)
        try:
            await storm
            deadline = time.monotonic() + 60
            while pending_count(tmp_path):
                assert time.monotonic() < deadline, f"{pending_count(tmp_path)} alerts never handed over"
                await asyncio.sleep(0.1)
            runs: dict[str, set[str]] = defaultdict(set)
            for fingerprint, run_id in acknowledged.values():
                runs[fingerprint].add(run_id)
            leftovers |= {r for ids in runs.values() for r in ids}
            recorded = {}
            for ids in runs.values():
                for run_id in ids:
                    state = await status(client, run_id)
                    recorded[run_id] = {state.alert_id} | {a.id for a in state.joined_alerts}
        finally:
            receiver.send_signal(signal.SIGTERM)
            receiver.wait(15)
    assert 0 < acknowledged_before_kill < ALERTS and len(acknowledged) == ALERTS
    assert {fp: len(ids) for fp, ids in runs.items()} == {f"fp-{k}": 1 for k in range(FINGERPRINTS)}
    lost = [a for a, (fp, run_id) in acknowledged.items() if a not in recorded[run_id]]
    assert lost == []
