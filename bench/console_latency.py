"""Console page times with 1,000 incidents in the list: ``python -m bench.console_latency``.

The console runs on a real uvicorn server on loopback with bearer-token access checks, the
shipped playbook catalog, and an in-memory run source holding 1,000 incidents (300 open, each
waiting on an approval) in place of Temporal, so the figures are the console's own cost: access
check, listing, filtering, waiting-on lookup, templates and HTTP. Prints p50/p95 per page and
exits 1 when a p95 is over the 100 ms budget.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from bench.stats import percentile
from engine.access import Access, AccessSettings, Role, TokenEntry, TokenStore, hash_token
from engine.client import RunSummary
from engine.console import console_routes
from engine.errors import RunNotFound
from engine.plan.models import StepKind
from engine.plan.state import ApprovalRecord, Decision, RunState, StepRecord, StepStatus
from engine.settings import Settings
from engine.spec.catalog import load_catalog

BUDGET_MS = 100.0
#: Not a page the console serves by default (it pages by 100): measured, not held to the budget.
INFORMATIONAL = "list (all 1,000 on one page)"
TOKEN = "bench-console-token"
PLAYBOOKS = ["prompt-injection-response", "quarantine-compromised-model", "revoke-leaked-api-key"]
SEVERITIES = ["low", "medium", "high", "critical"]


class MemorySource:
    """1,000 incidents in memory (the console's RunSource seam)."""

    def __init__(self, count: int) -> None:
        now = datetime.now(UTC)
        self.summaries: list[RunSummary] = []
        self.by_id: dict[str, RunSummary] = {}
        for i in range(count):
            run_id = f"{PLAYBOOKS[i % 3]}-{i:016x}"
            started = now - timedelta(minutes=3 * i)
            is_open = i % 10 < 3
            title = f"<b>Injection burst #{i}</b> on support-assistant"
            self.summaries.append(
                RunSummary(
                    run_id=run_id,
                    playbook=PLAYBOOKS[i % 3],
                    status="running" if is_open else "succeeded",
                    title=title,
                    severity=SEVERITIES[i % 4],
                    started_at=started,
                    closed_at=None if is_open else started + timedelta(minutes=2),
                )
            )
            self.by_id[run_id] = self.summaries[-1]

    async def runs(self) -> list[RunSummary]:
        return self.summaries

    async def state(self, run_id: str) -> RunState:
        # Built per call, as Temporal answers a query: the console process holds no run states.
        found = self.by_id.get(run_id)
        if found is None or found.started_at is None:
            raise RunNotFound(run_id)
        return _state(run_id, found.playbook, found.title, found.started_at)

    async def alert(self, run_id: str) -> dict[str, Any] | None:
        found = self.by_id[run_id]
        return {"id": f"a-{run_id[-6:]}", "title": found.title, "fields": {f"f{i}": i for i in range(60)}}

    async def decide(
        self, run_id: str, step: str, decision: Decision, by: str, *, groups: list[str], reason: str
    ) -> StepRecord:
        raise NotImplementedError("the benchmark only reads")


def _state(run_id: str, playbook: str, title: str, started: datetime) -> RunState:
    steps = [
        StepRecord(
            path=f"step_{n}",
            id=f"step_{n}",
            kind=StepKind.ACTION,
            status=StepStatus.SUCCEEDED,
            started_at=started,
            finished_at=started + timedelta(seconds=1),
            output={"hits": [{"n": k, "text": "x" * 80} for k in range(20)], "total": 20},
        )
        for n in range(8)
    ]
    steps.append(
        StepRecord(
            path="approve",
            id="approve",
            kind=StepKind.APPROVAL,
            status=StepStatus.WAITING,
            started_at=started,
            approval=ApprovalRecord(
                title="Quarantine support-assistant?",
                approvers=["user:U1", "group:ml-oncall"],
                requested_at=started,
                deadline=started + timedelta(hours=1),
            ),
        )
    )
    return RunState(
        run_id=run_id,
        playbook=playbook,
        version=1,
        sha256="",
        started_at=started,
        alert_id=f"a-{run_id[-6:]}",
        alert_title=title,
        severity="high",
        steps=steps,
    )


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


async def measure(count: int, requests: int) -> dict[str, dict[str, float]]:
    """p50/p95 (ms) of each page, ``requests`` sequential requests after a warm-up."""
    source = MemorySource(count)
    catalog = load_catalog([Path("playbooks")])
    store = TokenStore(entries={hash_token(TOKEN): TokenEntry(user="U1", role=Role.RESPONDER)})
    # An empty home: no reviews, no local stack (so no Web UI link to look up).
    home = Path(tempfile.gettempdir()) / "fireline-console-bench-home"
    access = Access(AccessSettings(), store=store)
    routes = console_routes(Settings(home=home), None, lambda: catalog, access=access, source=source)
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only then; without it
    # Nagle and delayed ACKs add ~40 ms to every response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = _Server(
        uvicorn.Config(Starlette(routes=routes), log_config=None, access_log=False, lifespan="off")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.01)
    first = source.summaries[0].run_id
    pages = {
        "list (100 rows of 1,000)": "/console/",
        "list filtered (severity)": "/console/?severity=critical",
        "rows fragment (refresh)": "/console/rows",
        "list JSON": "/console/api/runs",
        "incident page": f"/console/runs/{first}",
        "playbook catalog": "/console/playbooks",
        INFORMATIONAL: "/console/?per_page=1000",
    }
    results: dict[str, dict[str, float]] = {}
    try:
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            for name, path in pages.items():
                for _ in range(10):
                    (await http.get(path)).raise_for_status()
                times = []
                for _ in range(requests):
                    started = time.perf_counter()
                    answer = await http.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    answer.raise_for_status()
                results[name] = {
                    "p50": percentile(times, 50),
                    "p95": percentile(times, 95),
                    "bytes": len(answer.content),
                }
    finally:
        server.should_exit = True
        await task
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    results = asyncio.run(measure(args.incidents, args.requests))
    print(f"console page times: {args.incidents} incidents, {args.requests} requests a page, loopback")
    print(f"{'page':<30} {'p50 ms':>8} {'p95 ms':>8} {'KiB':>7}  p95 budget {BUDGET_MS:.0f} ms")
    over = False
    for name, row in results.items():
        verdict = "ok" if row["p95"] <= BUDGET_MS else "OVER"
        if name == INFORMATIONAL:
            verdict = "(informational)"
        over |= verdict == "OVER"
        print(f"{name:<30} {row['p50']:>8.1f} {row['p95']:>8.1f} {row['bytes'] / 1024:>7.1f}  {verdict}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
