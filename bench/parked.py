"""Figure 6: many runs parked on approvals, each side's worker in its own process.

Measured per side: the worker's RSS before, while N runs wait on their approval, and after all
were decided and finished; how long parking took; how long deciding all of them took.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench import runs
from bench.stack import rss_kib
from bench.stats import per_second, ratio
from engine.plan.models import Plan

IN_FLIGHT = 50
WARMUP = 20


async def _bounded(items: Iterable[Any], act: Callable[[Any], Awaitable[Any]], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(item: Any) -> Any:
        async with gate:
            return await act(item)

    return list(await asyncio.gather(*(one(i) for i in items)))


class _Side:
    """The operations of one side: start a parked run, wait until parked, decide, wait for the end."""

    def __init__(self, client: Client, side: str, queue: str, plan: Plan) -> None:
        self.client, self.side, self.queue, self.plan = client, side, queue, plan

    async def start(self, _: int) -> str:
        if self.side == "engine":
            return await runs.start_engine_approval(self.client, self.plan, self.queue)
        return await runs.start_baseline_approval(self.client, self.queue)

    async def parked(self, run_id: str) -> None:
        if self.side == "engine":
            await runs.wait_parked_engine(self.client, run_id, within_s=300)
        else:
            await runs.wait_parked_baseline(self.client, run_id, within_s=300)

    async def decide(self, run_id: str) -> None:
        if self.side == "engine":
            await runs.engine_decide(self.client, run_id)
        else:
            await runs.baseline_decide(self.client, run_id)

    async def finished(self, run_id: str) -> None:
        await self.client.get_workflow_handle(run_id).result()


def _spawn(address: str, queue: str, side: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(  # our own module, same interpreter
        [sys.executable, "-m", "bench.parked_worker", address, queue, side],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError(f"{side} worker process did not start")
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


async def _cycle(side: _Side, ids: list[str]) -> None:
    await _bounded(ids, side.parked, IN_FLIGHT)
    await _bounded(ids, side.decide, IN_FLIGHT)
    await _bounded(ids, side.finished, IN_FLIGHT)


async def park_side(client: Client, address: str, side_name: str, plan: Plan, n: int) -> dict[str, Any]:
    """Park ``n`` runs of one side on a fresh worker process and decide them all."""
    queue = f"bench-parked-{side_name}-{uuid.uuid4().hex[:6]}"
    proc = await asyncio.to_thread(_spawn, address, queue, side_name)
    side = _Side(client, side_name, queue, plan)
    try:
        await _cycle(side, await _bounded(range(WARMUP), side.start, IN_FLIGHT))
        await asyncio.sleep(0.5)
        idle = rss_kib(proc.pid)
        started = time.perf_counter()
        ids = await _bounded(range(n), side.start, IN_FLIGHT)
        await _bounded(ids, side.parked, IN_FLIGHT)
        parked_s = time.perf_counter() - started
        await asyncio.sleep(1.0)
        parked = rss_kib(proc.pid)
        started = time.perf_counter()
        await _bounded(ids, side.decide, IN_FLIGHT)
        decided_s = time.perf_counter() - started
        await _bounded(ids, side.finished, IN_FLIGHT)
        finished_s = time.perf_counter() - started
        await asyncio.sleep(0.5)
        after = rss_kib(proc.pid)
    finally:
        await asyncio.to_thread(_stop, proc)
    return {
        "rss_idle_mib": round(idle / 1024, 1),
        "rss_parked_mib": round(parked / 1024, 1),
        "rss_after_mib": round(after / 1024, 1),
        "rss_growth_mib": round((parked - idle) / 1024, 1),
        "rss_growth_kib_per_run": round((parked - idle) / n, 1),
        "park_all_s": round(parked_s, 2),
        "decide_all_s": round(decided_s, 2),
        "decides_per_s": per_second(n, decided_s),
        "finish_all_s": round(finished_s, 2),
    }


async def parked(client: Client, address: str, plan: Plan, n: int) -> dict[str, Any]:
    """Both sides, the baseline first; each on its own worker process."""
    base = await park_side(client, address, "baseline", plan, n)
    engine = await park_side(client, address, "engine", plan, n)
    return {
        "parked_n": n,
        "parked_engine": engine,
        "parked_baseline": base,
        "parked_rss_growth_ratio": ratio(engine["rss_growth_mib"], base["rss_growth_mib"]),
        "parked_decide_all_ratio": ratio(engine["decide_all_s"], base["decide_all_s"]),
    }
