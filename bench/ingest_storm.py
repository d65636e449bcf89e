"""Figure 8: an alert storm on the real receiver, each of sender, receiver and worker in its own process.

The receiver runs as ``fireline up`` runs it (spool on: 202 once the alert is on disk, runs started
and joined in the background). A sender process posts signed alerts over keep-alive connections;
the engine worker is the bench's. In the same run, a raw client process starts the same number of
workflows (same ids shape: ``fingerprints`` distinct ids, ``USE_EXISTING`` for the rest) from the
same number of concurrent callers: the rate Temporal itself takes starts at. A second storm, on new
fingerprints, is offered at 0.8x that raw rate (open loop): the accept latency at a stated load
below what Temporal alone takes. Then a third storm SIGKILLs the receiver mid-way and restarts it
on its spool; every alert that got a 2xx must end up on its incident's run, one run per
fingerprint (counted, not assumed).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench.stack import handover_pids, process_cpu_seconds, renice
from bench.stats import per_second, percentile
from bench.storm_procs import PLAYBOOK
from engine.ingest.spool_files import pending_count
from engine.stack.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
DRAIN_TIMEOUT_S = 600.0
#: The paced storm is offered at this share of the raw start rate: the issue's rate floor.
PACED_SHARE = 0.8
#: The ``nice`` steps that give Temporal and the worker the CPU weight compose gives them beside the
#: receiver (cpu_shares 1024 against 4096): weight 272 against 1024 at nice 0, 3.8x.
DEPLOY_NICE = 6


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # our own module, same interpreter
        [sys.executable, "-m", "bench.storm_procs", *args], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )


def _start_receiver(address: str, queue: str, home: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    proc = _spawn("receiver", address, queue, str(home), str(port))
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("ready "):
        proc.kill()
        raise RuntimeError(f"receiver process did not start: {line[:200]!r}")
    deadline = time.monotonic() + 30
    while not handover_pids(proc.pid):  # started beside the listener: count its CPU from the start
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the receiver's hand-over process did not start")
        time.sleep(0.05)
    return proc, line.split(" ", 1)[1]


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


async def _output(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = await asyncio.to_thread(proc.communicate)
    if proc.returncode != 0:
        raise RuntimeError(f"bench process failed ({proc.returncode})")
    found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return found


def spooled(home: Path) -> int:
    """Alerts in the receiver's spool not yet handed to Temporal (read from the journal)."""
    return pending_count(home)


async def _drained(home: Path, within_s: float = DRAIN_TIMEOUT_S) -> float:
    """Wait until the spool is empty; perf_counter() when it was seen empty."""
    deadline = time.monotonic() + within_s
    while spooled(home):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{spooled(home)} alerts still spooled after {within_s:.0f} s")
        await asyncio.sleep(0.1)  # each look reads the whole journal, on the hand-over's 2 cores
    return time.perf_counter()


async def _bounded(items: list[str], act: Any, limit: int = 50) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(item: str) -> Any:
        async with gate:
            return await act(item)

    return list(await asyncio.gather(*(one(i) for i in items)))


async def check_runs(client: Client, acknowledged: dict[str, list[Any]]) -> dict[str, int]:
    """Count what the runs recorded against what the receiver acknowledged."""
    from engine.client import status

    by_fp: dict[str, set[str]] = defaultdict(set)
    expected: dict[str, set[str]] = defaultdict(set)
    for alert_id, (fingerprint, _status, *runs) in acknowledged.items():
        expected[fingerprint].add(alert_id)
        by_fp[fingerprint].update(r for r in runs if r)
    run_ids = sorted(set().union(*by_fp.values())) if by_fp else []
    states = await _bounded(run_ids, lambda r: status(client, r))
    recorded: dict[str, set[str]] = {}
    for state in states:
        recorded[state.run_id] = {state.alert_id} | {a.id for a in state.joined_alerts}
    lost = 0
    for fingerprint, ids in expected.items():
        (run_id,) = by_fp[fingerprint] if len(by_fp[fingerprint]) == 1 else (None,)
        lost += len(ids - recorded.get(run_id or "", set()))
    return {
        "acknowledged": len(acknowledged),
        "fingerprints": len(expected),
        "runs": len(run_ids),
        "fingerprints_with_one_run": sum(1 for runs in by_fp.values() if len(runs) == 1),
        "recorded_on_their_run": len(acknowledged) - lost,
        "lost": lost,
    }


async def _terminate(client: Client, ids: list[str]) -> None:
    async def one(workflow_id: str) -> None:
        try:
            await client.get_workflow_handle(workflow_id).terminate("bench done")
        except Exception:  # already closed
            return

    await _bounded(ids, one)


async def _raw(
    client: Client,
    address: str,
    queue: str,
    alerts: int,
    fingerprints: int,
    senders: int,
    cpu: _CpuMeter | None = None,
) -> float:
    """Raw start rate, starts/s, from a process of its own (same id shape as the storm)."""
    found = await _output(_spawn("raw", address, queue, str(alerts), str(fingerprints), str(senders)))
    if cpu is not None:
        cpu.lap("raw", alerts)
        cpu.found["ingest_raw_client_cpu_ms_per_alert"] = round(found["cpu_s"] * 1000 / alerts, 3)
    await _terminate(client, list(found["ids"]))
    return float(per_second(found["started"], found["seconds"]))


async def storm(
    client: Client,
    address: str,
    queue: str,
    baseline_queue: str,
    alerts: int,
    fingerprints: int,
    senders: int,
    kill_alerts: int,
    server_cpu: Callable[[], float] | None = None,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """The storm, the raw start rate beside it, and the receiver killed mid-storm.

    ``server_cpu`` (the Temporal server's CPU seconds so far) adds what each alert cost the server
    and this process (the worker), against what each raw start cost them. With ``server_pid``, the
    storms after the first offered one run with the deployment's CPU weights (:data:`DEPLOY_NICE`).
    """
    cpu = _CpuMeter(server_cpu)
    raw_rate = await _raw(client, address, baseline_queue, alerts, fingerprints, senders, cpu)
    tag = uuid.uuid4().hex[:6]
    result: dict[str, Any] = {"ingest_raw_starts_per_s": raw_rate}
    with tempfile.TemporaryDirectory(prefix="fireline-bench-ingest-") as tmp:
        home = Path(tmp)
        (home / "pb").mkdir()
        (home / "pb" / "storm.yaml").write_text(PLAYBOOK.format(name=f"storm-{tag}"), encoding="utf-8")
        port = free_port()
        receiver, url = await asyncio.to_thread(_start_receiver, address, queue, home, port)
        run_ids: list[str] = []
        try:
            rate = raw_rate * PACED_SHARE
            # Offered at 0.8x the raw start rate (open loop), every process at the same CPU weight
            # but the receiver's hand-over (niced, as shipped).
            cpu.watch(receiver.pid)
            equal = await _paced_storm(client, home, url, alerts, fingerprints, senders, rate, cpu, "equal")
            run_ids += equal.pop("_run_ids")
            result.update(equal)
            if server_pid is not None:
                # From here on as deployed: the receiver gets 4x the CPU weight of Temporal and the
                # worker (compose's cpu_shares). The sender, started by this process, goes with them.
                renice(server_pid, DEPLOY_NICE)
                renice(os.getpid(), DEPLOY_NICE)
                result["ingest_deploy_nice"] = DEPLOY_NICE
            cpu.watch(receiver.pid)
            closed = await _one_storm(client, home, url, tag, alerts, fingerprints, senders, cpu, "storm")
            run_ids += closed.run_ids
            result.update(
                {
                    "ingest_alerts": len(closed.sent["acknowledged"]),
                    "ingest_fingerprints": fingerprints,
                    "ingest_senders": senders,
                    "ingest_alerts_per_s": closed.accepted_per_s,
                    "ingest_handed_over_per_s": closed.handed_over_per_s,
                    "ingest_rate_ratio": round(closed.handed_over_per_s / raw_rate, 3) if raw_rate else None,
                    "ingest_accept_p50_ms": closed.accept_ms(50),
                    "ingest_accept_p99_ms": closed.accept_ms(99),
                    "ingest_runs_started": closed.counts["runs"],
                    "ingest_check": closed.counts,
                }
            )
            # The same storm again on new fingerprints, offered at 0.8x the raw start rate (open loop).
            cpu.watch(receiver.pid)
            paced = await _paced_storm(client, home, url, alerts, fingerprints, senders, rate, cpu)
            run_ids += paced.pop("_run_ids")
            result.update(paced, **cpu.figures())  # CPU per alert of the raw starts and both storms
            # The same receiver process is now SIGKILLed in the middle of a third storm.
            kill = await _killed_storm(
                client, address, queue, home, port, url, receiver, kill_alerts, closed.accepted_per_s
            )
            receiver = kill.pop("_receiver")
            run_ids += kill.pop("_run_ids")
            result.update(kill)
        finally:
            await asyncio.to_thread(_stop, receiver)
            await _terminate(client, sorted(set(run_ids)))
    return result


class _CpuMeter:
    """CPU per alert (or per raw start) of the server, this process, the receiver and its hand-over.

    This process is the engine's worker plus the bench's client and its look at the spool.
    """

    PARTS = ("server", "worker", "receiver", "handover")

    def __init__(self, server_cpu: Callable[[], float] | None) -> None:
        self.server_cpu = server_cpu
        self.found: dict[str, float] = {}
        self.receiver_pid: int | None = None
        self.handover_pids: list[int] = []
        self._mark = self._now()

    def _now(self) -> tuple[float, ...]:
        server = self.server_cpu() if self.server_cpu else 0.0
        receiver = process_cpu_seconds(self.receiver_pid) if self.receiver_pid else 0.0
        handover = sum(process_cpu_seconds(pid) for pid in self.handover_pids)
        return (server, time.process_time(), receiver, handover)

    def watch(self, receiver_pid: int) -> None:
        """Count the receiver's (and its hand-over's) CPU from now on (not their start-up)."""
        self.receiver_pid = receiver_pid
        self.handover_pids = handover_pids(receiver_pid)
        self._mark = self._now()

    def lap(self, name: str, count: int) -> None:
        now = self._now()
        for part, end, start in zip(self.PARTS, now, self._mark, strict=True):
            counted = {
                "server": self.server_cpu,
                "receiver": self.receiver_pid,
                "handover": self.handover_pids,
            }
            if counted.get(part, True):
                self.found[f"ingest_{name}_{part}_cpu_ms_per_alert"] = round((end - start) * 1000 / count, 3)
        self._mark = now

    def figures(self) -> dict[str, float]:
        return dict(self.found)


@dataclass
class _Storm:
    """One storm's sender output, what its runs recorded, and its rates."""

    sent: dict[str, Any]
    counts: dict[str, int]
    accepted_per_s: float
    handed_over_per_s: float
    run_ids: list[str]

    def accept_ms(self, q: float) -> float:
        """The ``q``-th percentile of the accept latency, ms."""
        return round(percentile([x * 1000 for x in self.sent["latencies"]], q), 2)


def _run_ids(sent: dict[str, Any]) -> list[str]:
    """The run ids the receiver's answers named, from a sender's output."""
    return [r for v in sent["acknowledged"].values() for r in v[2:] if r]


async def _one_storm(
    client: Client,
    home: Path,
    url: str,
    tag: str,
    alerts: int,
    fingerprints: int,
    senders: int,
    cpu: _CpuMeter,
    lap: str,
    rate: float = 0.0,
) -> _Storm:
    """Post the storm (offered at ``rate`` alerts/s, closed loop without), wait for the hand-over, count."""
    started = time.perf_counter()
    offered = [f"{rate:.1f}"] if rate > 0 else []
    sent = await _output(_spawn("sender", url, tag, str(alerts), str(fingerprints), str(senders), *offered))
    drained = await _drained(home)
    cpu.lap(lap, alerts)
    counts = await check_runs(client, sent["acknowledged"])
    answered = len(sent["latencies"])
    return _Storm(
        sent,
        counts,
        per_second(answered, sent["seconds"]),
        per_second(answered, drained - started),
        _run_ids(sent),
    )


async def _paced_storm(
    client: Client,
    home: Path,
    url: str,
    alerts: int,
    fingerprints: int,
    senders: int,
    rate: float,
    cpu: _CpuMeter,
    name: str = "paced",
) -> dict[str, Any]:
    """The storm at a fixed offered rate: the accept latency at a stated load, not at saturation.

    With closed-loop connections the accept latency is the connections over the accepted rate
    (Little's law), whatever the receiver does; a latency target means something only at a stated
    rate, so the sender offers ``rate`` alerts/s and times each alert from when it was due. Keys
    are ``ingest_<name>_*``.
    """
    tag = uuid.uuid4().hex[:6]
    paced = await _one_storm(client, home, url, tag, alerts, fingerprints, senders, cpu, name, rate)
    late_ms = [x * 1000 for x in paced.sent["late"]]
    return {
        f"ingest_{name}_offered_per_s": round(rate, 1),
        f"ingest_{name}_alerts_per_s": paced.accepted_per_s,
        f"ingest_{name}_handed_over_per_s": paced.handed_over_per_s,
        f"ingest_{name}_accept_p50_ms": paced.accept_ms(50),
        f"ingest_{name}_accept_p99_ms": paced.accept_ms(99),
        f"ingest_{name}_accept_max_ms": paced.accept_ms(100),
        # How late alerts went out: a connection still waiting for an answer, or the sender not run.
        f"ingest_{name}_sent_late_p99_ms": round(percentile(late_ms, 99), 2),
        f"ingest_{name}_check": paced.counts,
        "_run_ids": paced.run_ids,
    }


async def _killed_storm(
    client: Client,
    address: str,
    queue: str,
    home: Path,
    port: int,
    url: str,
    receiver: subprocess.Popen[str],
    alerts: int,
    rate: float,
) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    fingerprints = max(1, alerts // 10)
    sender = _spawn("sender", url, tag, str(alerts), str(fingerprints), "50")
    await asyncio.sleep(max(0.2, 0.5 * alerts / max(rate, 1.0)))  # about half-way through
    receiver.kill()
    receiver.wait(10)
    killed_with = spooled(home)
    receiver, _ = await asyncio.to_thread(_start_receiver, address, queue, home, port)
    sent = await _output(sender)
    await _drained(home)
    counts = await check_runs(client, sent["acknowledged"])
    return {
        "ingest_kill_alerts": alerts,
        "ingest_kill_spooled_at_kill": killed_with,
        "ingest_kill_sender_retries": sent["retries"],
        "ingest_kill_check": counts,
        "_receiver": receiver,
        "_run_ids": _run_ids(sent),
    }
