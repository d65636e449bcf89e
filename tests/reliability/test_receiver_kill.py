"""``kill -9`` mid-storm: every alert the receiver acknowledged ends up on its incident's run.

The receiver answers 202 once an alert is in its spool, and a child process of its own hands the
spool over to Temporal. Killed and restarted on the same spool, the receiver hands over what it had
acknowledged; its hand-over, killed, is started again. Senders retry what got no answer, as real
ones do. Counted, not timed: each acknowledged alert is on the one run of its fingerprint, and
nothing else started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from engine.client import status
from engine.ingest.auth import SIGNATURE_HEADER, sign
from engine.ingest.spool_files import pending_count
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


def handovers(pid: int) -> list[int]:
    """The hand-over processes ``pid`` started (Linux /proc; not multiprocessing's resource tracker)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(FileNotFoundError):
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(int(child))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def storm_with_a_kill(
    tmp_path: Path, client: Client, task_queue: str, *, kill_handover: bool
) -> tuple[int, dict[str, tuple[str, str]], dict[str, set[str]], dict[str, set[str]]]:
    """Send the storm, SIGKILL the receiver (or its hand-over) a third of the way in, count runs."""
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
        [handover] = handovers(receiver.pid)
        # Mid-storm: some alerts acknowledged, not handed over yet.
        os.kill(handover if kill_handover else receiver.pid, signal.SIGKILL)
        acknowledged_before_kill = len(acknowledged)
        if not kill_handover:
            receiver.wait(10)
            deadline = time.monotonic() + 30
            while alive(handover):  # its parent is gone: it finishes its batch and exits
                assert time.monotonic() < deadline, "the killed receiver's hand-over kept running"
                await asyncio.sleep(0.05)
            receiver = start_receiver(address, task_queue, tmp_path, port)
        try:
            await storm
            deadline = time.monotonic() + 60
            while pending_count(tmp_path):
                assert time.monotonic() < deadline, f"{pending_count(tmp_path)} alerts never handed over"
                await asyncio.sleep(0.1)
            if kill_handover:
                assert [p for p in handovers(receiver.pid) if p != handover], "no new hand-over started"
                async with httpx.AsyncClient(timeout=10) as http:
                    scraped = (await http.get(f"{url}/metrics")).text
                assert "fireline_alert_handover_restarts_total 1.0" in scraped
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
    return acknowledged_before_kill, acknowledged, runs, recorded


@pytest.mark.parametrize("kill_handover", [False, True], ids=["receiver", "hand-over"])
async def test_kill_9_mid_storm_loses_no_acknowledged_alert(
    tmp_path: Path, client: Client, task_queue: str, kill_handover: bool
) -> None:
    before, acknowledged, runs, recorded = await storm_with_a_kill(
        tmp_path, client, task_queue, kill_handover=kill_handover
    )
    assert 0 < before < ALERTS and len(acknowledged) == ALERTS
    assert {fp: len(ids) for fp, ids in runs.items()} == {f"fp-{k}": 1 for k in range(FINGERPRINTS)}
    lost = [a for a, (fp, run_id) in acknowledged.items() if a not in recorded[run_id]]
    assert lost == []
