"""Figure 6: many runs parked on approvals, each side's worker in its own process.

Measured per side: the worker's RSS before, while N runs wait on their approval, and after all
were decided and finished; how long parking took; how long deciding all of them took, in blocks
that alternate between the sides.
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


#: The order of the decide blocks: A B B A A B B A, so that a machine speeding up or slowing down
#: over the figure hits both sides alike (one block per side at a time, never both at once).
BLOCK_ORDER = ("baseline", "engine", "engine", "baseline") * 2
SIDES = ("baseline", "engine")


def _blocks(ids: list[str], count: int) -> list[list[str]]:
    """``ids`` cut into ``count`` runs of consecutive ids, as even as they go."""
    size, extra = divmod(len(ids), count)
    out: list[list[str]] = []
    at = 0
    for i in range(count):
        step = size + (1 if i < extra else 0)
        out.append(ids[at : at + step])
        at += step
    return out


def _memory(idle: int, parked: int, after: int, n: int) -> dict[str, Any]:
    return {
        "rss_idle_mib": round(idle / 1024, 1),
        "rss_parked_mib": round(parked / 1024, 1),
        "rss_after_mib": round(after / 1024, 1),
        "rss_growth_mib": round((parked - idle) / 1024, 1),
        "rss_growth_kib_per_run": round((parked - idle) / n, 1),
    }


async def parked(client: Client, address: str, plan: Plan, n: int) -> dict[str, Any]:
    """Park ``n`` runs per side, each side's worker in its own process, then decide them all.

    Both workers run for the whole figure. The runs are decided in blocks, one side at a time, in
    ``BLOCK_ORDER``; each side's decide-all time is the sum of its blocks. Measured one whole side
    after the other, the ratio followed the machine's drift: the same code gave 0.80x, 1.22x and
    1.06x in three rounds.
    """
    queues = {name: f"bench-parked-{name}-{uuid.uuid4().hex[:6]}" for name in SIDES}
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        for name in SIDES:
            procs[name] = await asyncio.to_thread(_spawn, address, queues[name], name)
        sides = {name: _Side(client, name, queues[name], plan) for name in SIDES}
        for side in sides.values():
            await _cycle(side, await _bounded(range(WARMUP), side.start, IN_FLIGHT))
        await asyncio.sleep(0.5)
        idle = {name: rss_kib(procs[name].pid) for name in SIDES}
        ids: dict[str, list[str]] = {}
        park_s: dict[str, float] = {}
        for name, side in sides.items():
            started = time.perf_counter()
            ids[name] = await _bounded(range(n), side.start, IN_FLIGHT)
            await _bounded(ids[name], side.parked, IN_FLIGHT)
            park_s[name] = time.perf_counter() - started
        await asyncio.sleep(1.0)
        held = {name: rss_kib(procs[name].pid) for name in SIDES}
        decide_s: dict[str, list[float]] = {name: [] for name in SIDES}
        finish_s = dict.fromkeys(SIDES, 0.0)
        pending = {name: _blocks(ids[name], BLOCK_ORDER.count(name)) for name in SIDES}
        for name in BLOCK_ORDER:
            block, side = pending[name].pop(0), sides[name]
            started = time.perf_counter()
            await _bounded(block, side.decide, IN_FLIGHT)
            decide_s[name].append(time.perf_counter() - started)
            await _bounded(block, side.finished, IN_FLIGHT)
            finish_s[name] += time.perf_counter() - started
        await asyncio.sleep(0.5)
        after = {name: rss_kib(procs[name].pid) for name in SIDES}
    finally:
        for proc in procs.values():
            await asyncio.to_thread(_stop, proc)
    result = {
        name: {
            **_memory(idle[name], held[name], after[name], n),
            "park_all_s": round(park_s[name], 2),
            "decide_all_s": round(sum(decide_s[name]), 2),
            "decide_blocks_s": [round(s, 2) for s in decide_s[name]],
            "decides_per_s": per_second(n, sum(decide_s[name])),
            "finish_all_s": round(finish_s[name], 2),
        }
        for name in SIDES
    }
    engine, base = result["engine"], result["baseline"]
    return {
        "parked_n": n,
        "parked_decide_blocks": list(BLOCK_ORDER),
        "parked_engine": engine,
        "parked_baseline": base,
        "parked_rss_growth_ratio": ratio(engine["rss_growth_mib"], base["rss_growth_mib"]),
        "parked_decide_all_ratio": ratio(engine["decide_all_s"], base["decide_all_s"]),
    }
