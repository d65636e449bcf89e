"""Figures 1, 2, 4 and 5: server flags, start→result overhead, approval latency, throughput.

Engine and baseline runs are interleaved (A, B, A, B, ...) so drift on the machine hits both alike.
"""

from __future__ import annotations

import time
from typing import Any

from temporalio.client import Client

from bench import runs
from bench.stack import Server
from bench.stats import per_second, ratio, summarize_ms
from engine.plan.models import Plan


async def flags(stock: Client, tuned: Client, stock_queue: str, tuned_queue: str, n: int) -> dict[str, Any]:
    """The hand-written 5-activity workflow on a stock dev server and on the tuned one."""
    for _ in range(3):  # warm both workers and servers
        await runs.baseline_five(stock, stock_queue)
        await runs.baseline_five(tuned, tuned_queue)
    slow: list[float] = []
    fast: list[float] = []
    for _ in range(n):
        slow.append(await runs.baseline_five(stock, stock_queue))
        fast.append(await runs.baseline_five(tuned, tuned_queue))
    s, f = summarize_ms(slow), summarize_ms(fast)
    return {
        "flags_n": n,
        "flags_stock_ms": s,
        "flags_tuned_ms": f,
        "flags_speedup_p50": ratio(s["p50"], f["p50"]),
        "flags_speedup_p95": ratio(s["p95"], f["p95"]),
    }


async def overhead(client: Client, server: Server, plan: Plan, eq: str, bq: str, n: int) -> dict[str, Any]:
    """The 5-step playbook against the hand-written 5-activity workflow, sequential runs."""
    for _ in range(5):
        await runs.engine_five(client, plan, eq)
        await runs.baseline_five(client, bq)
    engine: list[float] = []
    base: list[float] = []
    cpu = {"engine": 0.0, "baseline": 0.0}
    server_cpu = {"engine": 0.0, "baseline": 0.0}
    for _ in range(n):
        c0, s0 = time.process_time(), server.cpu_seconds()
        engine.append(await runs.engine_five(client, plan, eq))
        c1, s1 = time.process_time(), server.cpu_seconds()
        base.append(await runs.baseline_five(client, bq))
        c2, s2 = time.process_time(), server.cpu_seconds()
        cpu["engine"] += c1 - c0
        cpu["baseline"] += c2 - c1
        server_cpu["engine"] += s1 - s0
        server_cpu["baseline"] += s2 - s1
    e, b = summarize_ms(engine), summarize_ms(base)
    return {
        "overhead_n": n,
        "overhead_engine_ms": e,
        "overhead_baseline_ms": b,
        "overhead_ratio_p50": ratio(e["p50"], b["p50"]),
        "overhead_ratio_p95": ratio(e["p95"], b["p95"]),
        # CPU of this process (client + worker) and of the server, per run: what throughput pays.
        "cpu_ms_per_run_engine": round(cpu["engine"] * 1000 / n, 2),
        "cpu_ms_per_run_baseline": round(cpu["baseline"] * 1000 / n, 2),
        "server_cpu_ms_per_run_engine": round(server_cpu["engine"] * 1000 / n, 2),
        "server_cpu_ms_per_run_baseline": round(server_cpu["baseline"] * 1000 / n, 2),
    }


async def audit_es(client: Client, plan: Plan, audit_queue: str, bq: str, n: int) -> dict[str, Any]:
    """The 5-step playbook with its audit trail written to Elasticsearch (noida-db), against the baseline."""
    for _ in range(3):
        await runs.engine_five(client, plan, audit_queue)
        await runs.baseline_five(client, bq)
    engine: list[float] = []
    base: list[float] = []
    for _ in range(n):
        engine.append(await runs.engine_five(client, plan, audit_queue))
        base.append(await runs.baseline_five(client, bq))
    e, b = summarize_ms(engine), summarize_ms(base)
    return {
        "audit_es_n": n,
        "audit_es_engine_ms": e,
        "audit_es_baseline_ms": b,
        "audit_es_ratio_p50": ratio(e["p50"], b["p50"]),
        "audit_es_ratio_p95": ratio(e["p95"], b["p95"]),
    }


async def approval(client: Client, plan: Plan, eq: str, bq: str, n: int) -> dict[str, Any]:
    """Decision (an Update) → the next step's activity started, engine against a raw Update."""
    for _ in range(3):
        await runs.engine_approval(client, plan, eq)
        await runs.baseline_approval(client, bq)
    engine: list[tuple[float, float]] = []
    base: list[tuple[float, float]] = []
    for _ in range(n):
        engine.append(await runs.engine_approval(client, plan, eq))
        base.append(await runs.baseline_approval(client, bq))
    e = summarize_ms([x[0] for x in engine])
    b = summarize_ms([x[0] for x in base])
    return {
        "approval_n": n,
        "approval_engine_ms": e,
        "approval_baseline_ms": b,
        "approval_ratio_p50": ratio(e["p50"], b["p50"]),
        "approval_ratio_p95": ratio(e["p95"], b["p95"]),
        "approval_update_answer_engine_ms": summarize_ms([x[1] for x in engine]),
        "approval_update_answer_baseline_ms": summarize_ms([x[1] for x in base]),
    }


async def throughput(
    client: Client, plan: Plan, eq: str, bq: str, total: int, in_flight: int, rounds: int
) -> dict[str, Any]:
    """Runs per second with ``in_flight`` runs open at once; rounds alternate baseline and engine."""
    seconds = {"engine": 0.0, "baseline": 0.0}
    for _ in range(rounds):
        seconds["baseline"] += await runs.run_many(lambda: runs.baseline_five(client, bq), total, in_flight)
        seconds["engine"] += await runs.run_many(lambda: runs.engine_five(client, plan, eq), total, in_flight)
    e = per_second(total * rounds, seconds["engine"])
    b = per_second(total * rounds, seconds["baseline"])
    return {
        "throughput_in_flight": in_flight,
        "throughput_runs_per_side": total * rounds,
        "throughput_engine_runs_per_s": e,
        "throughput_baseline_runs_per_s": b,
        "throughput_ratio": ratio(e, b),
    }
