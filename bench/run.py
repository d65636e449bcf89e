"""Run every figure in one go on one local stack, print the table, write latest.json and the chart."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import latency, offline, parked, profiling, runs, stack
from bench.actions import APPROVAL, FIVE_STEPS, plan_of
from bench.chart import draw
from bench.report import RESULTS, table, write_json
from engine.heap import freeze_startup_heap
from engine.stack.processes import free_port, noida_elasticsearch


@dataclass(frozen=True)
class Sizes:
    """How many runs each figure uses (``--scale`` multiplies them)."""

    flags_n: int = 30
    overhead_n: int = 100
    approval_n: int = 30
    audit_es_n: int = 30
    throughput_total: int = 150
    throughput_rounds: int = 2
    in_flight: int = 50
    parked_n: int = 1000
    ingest_alerts: int = 10_000
    ingest_fingerprints: int = 1_000
    ingest_senders: int = 50
    ingest_kill_alerts: int = 2_000
    per_step_n: int = 300
    profile_runs: int = 30

    def scaled(self, scale: float) -> Sizes:
        """Every count times ``scale`` (at least a few), concurrency and shape unchanged."""
        keep = {"throughput_rounds", "in_flight", "ingest_fingerprints", "ingest_senders"}
        values = {k: v if k in keep else max(5, round(v * scale)) for k, v in asdict(self).items()}
        values["ingest_alerts"] = max(values["ingest_alerts"], self.ingest_senders)
        return Sizes(**values)


def say(message: str) -> None:
    """Progress on stderr, so stdout is the table."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def measure(sizes: Sizes, out: Path) -> dict[str, Any]:
    """Every figure; servers and workers are started here and stopped before returning."""
    r: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sizes": asdict(sizes),
    }
    load_start = os.getloadavg()
    say("offline: per-step engine time, validation of 50 playbooks, templating of a 1 MB alert")
    r.update(await offline.per_step(sizes.per_step_n))
    r.update(offline.validate_50())
    r.update(offline.template_1mb())
    five, approval = plan_of(FIVE_STEPS), plan_of(APPROVAL)
    eq, bq = f"bench-engine-{uuid.uuid4().hex[:6]}", f"bench-base-{uuid.uuid4().hex[:6]}"
    with stack.scratch_dir() as root, stack.dev_server(root, "tuned", tuned=True) as tuned:
        client = await stack.connect(tuned.address)
        async with stack.workers(client, eq, bq):
            freeze_startup_heap()  # as `fireline worker` does; one process, so both sides alike
            with stack.dev_server(root, "stock", tuned=False) as stock:
                r["machine"] = stack.machine_info([stock, tuned])
                r["machine"]["load_avg_at_start"] = load_start
                say(f"flags: hand-written 5-activity workflow, stock vs tuned server, n={sizes.flags_n}")
                stock_client = await stack.connect(stock.address)
                async with stack.baseline_worker(stock_client, bq):
                    r.update(await latency.flags(stock_client, client, bq, bq, sizes.flags_n))
            say(f"overhead: 5-step playbook vs hand-written, n={sizes.overhead_n} sequential")
            r.update(await latency.overhead(client, tuned, five, eq, bq, sizes.overhead_n))
            trip = r["overhead_baseline_ms"]["p50"] / offline.STEPS
            r["activity_round_trip_ms"] = round(trip, 2)
            r["per_step_overhead_share"] = round(r["per_step_overhead_ms"] / trip, 4)
            extra = r["overhead_engine_ms"]["p50"] - r["overhead_baseline_ms"]["p50"]
            r["per_step_overhead_e2e_ms"] = round(extra / offline.STEPS, 2)
            say(f"audit: 5-step playbook, audit trail in Elasticsearch (noida-db), n={sizes.audit_es_n}")
            r.update(await _audit_es(client, root, five, bq, sizes.audit_es_n))
            if "audit_es_engine_ms" in r:
                with_audit = r["audit_es_engine_ms"]["p50"] - r["audit_es_baseline_ms"]["p50"]
                r["audit_es_extra_per_step_ms"] = round((with_audit - extra) / offline.STEPS, 2)
            say(f"approval: decision → next step, n={sizes.approval_n}")
            r.update(await latency.approval(client, approval, eq, bq, sizes.approval_n))
            total, rounds = sizes.throughput_total, sizes.throughput_rounds
            say(f"throughput: {sizes.in_flight} in flight, {total} runs × {rounds} rounds per side")
            r.update(await latency.throughput(client, five, eq, bq, total, sizes.in_flight, rounds))
            say(f"profile: {sizes.profile_runs} engine runs under cProfile (thread CPU time)")
            r.update(
                await profiling.profile_engine(
                    client,
                    stack.engine_worker,
                    lambda q: runs.engine_five(client, five, q),
                    sizes.profile_runs,
                    out / "profile.txt",
                )
            )
            say(f"ingest: {sizes.ingest_alerts} alerts, {sizes.ingest_fingerprints} fingerprints")
            r.update(await _ingest(client, tuned, eq, bq, sizes))
        say(f"parked: {sizes.parked_n} runs on approvals per side, each worker in its own process")
        r.update(await parked.parked(client, tuned.address, approval, sizes.parked_n))
    return r


async def _audit_es(client: Any, root: Path, plan: Any, bq: str, n: int) -> dict[str, Any]:
    """Engine runs as under ``fireline up``: audit trail in a local Elasticsearch stand-in, payload
    codec on. The hand-written side runs on a client with the same codec (its own worker)."""
    port = free_port()
    try:
        es = noida_elasticsearch(root / "siem", port=port).start(timeout=30)
    except Exception as exc:  # noida-db missing or not starting: say so in the results
        return {"audit_es": f"not measured: {type(exc).__name__}: {exc}"[:300]}
    try:
        sealed = await stack.connect(client.service_client.config.target_host, codec=True)
        queue, base_queue = f"bench-audit-{uuid.uuid4().hex[:6]}", f"bench-base-codec-{uuid.uuid4().hex[:6]}"
        async with (
            stack.engine_worker(sealed, queue, audit_url=f"http://127.0.0.1:{port}"),
            stack.baseline_worker(sealed, base_queue),
        ):
            return await latency.audit_es(sealed, plan, queue, base_queue, n)
    except Exception as exc:
        return {"audit_es": f"not measured: {type(exc).__name__}: {exc}"[:300]}
    finally:
        es.stop()


async def _ingest(client: Any, server: stack.Server, queue: str, bq: str, sizes: Sizes) -> dict[str, Any]:
    try:
        from bench.ingest_storm import storm

        return await storm(
            client,
            server.address,
            queue,
            bq,
            sizes.ingest_alerts,
            sizes.ingest_fingerprints,
            sizes.ingest_senders,
            sizes.ingest_kill_alerts,
            server_cpu=server.cpu_seconds,
            server_pid=server.process.pid,
        )
    except Exception as exc:  # the receiver is optional here: record why it was not measured
        return {"ingest": f"not measured: {type(exc).__name__}: {exc}"[:300]}


def main(argv: list[str] | None = None) -> int:
    """``python -m bench [--scale 0.2] [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every run count (default 1)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for latest.json and latest.png")
    args = parser.parse_args(argv)
    sizes = Sizes().scaled(args.scale)
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    results = asyncio.run(measure(sizes, args.out))
    results["bench_seconds"] = round(time.perf_counter() - started, 1)
    # Other work on the machine moves absolute numbers; ratios of interleaved runs move less.
    results["machine"]["load_avg_at_end"] = os.getloadavg()
    print(table(results))
    print(f"\nmachine: {results['machine']}")
    print(f"sizes: {results['sizes']}")
    print(f"wrote {write_json(results, args.out / 'latest.json')}")
    chart = draw(results, args.out / "latest.png")
    print(f"wrote {chart}" if chart else "no chart: matplotlib is not installed (pip install matplotlib)")
    print(f"profile: {args.out / 'profile.txt'}; took {results['bench_seconds']} s")
    return 0
