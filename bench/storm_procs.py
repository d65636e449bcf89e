"""The alert storm's processes: the receiver (as ``fireline up`` runs it), the sender, a raw starter.

``python -m bench.storm_procs receiver ADDRESS QUEUE HOME PORT`` serves the storm playbook under
``HOME/pb`` with the spool on and its hand-over in a child process, prints ``ready URL`` and runs
until SIGTERM (or SIGKILL).

``python -m bench.storm_procs sender URL TAG ALERTS FINGERPRINTS CONNECTIONS [RATE]`` posts signed
alerts over CONNECTIONS keep-alive connections (its own event loop, its own process), retrying any
alert that did not get a 2xx (a receiver that died, a 503) until it does, and prints one JSON line:
the accept latencies of the acknowledged attempts, the wall time, and alert id → (fingerprint, run
id). Without RATE each connection posts its next alert as soon as the last one is answered (closed
loop: the latency is then ≈ CONNECTIONS / accepted rate, Little's law). With RATE (alerts/s) alert
``i`` is due at ``i / RATE`` s (open loop, as wrk2 does): a connection still waiting on an answer
posts late, and the latency counts from when the alert was due, so a slow answer is not hidden by
the alerts it held back (``late``: how long after it was due each alert went out).

``python -m bench.storm_procs raw ADDRESS QUEUE N FINGERPRINTS CONNECTIONS`` makes N start calls for
hand-written workflows (an activity, then a wait) over FINGERPRINTS ids from CONNECTIONS concurrent
callers and prints the wall time and its own CPU time for them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

SECRET = "bench-webhook-secret"
PLAYBOOK = """\
apiVersion: fireline/v1
kind: Playbook
metadata: {{ name: {name}, version: 1, title: storm }}
trigger:
  any: [{{ source: generic, match: {{ rule: "storm-*" }} }}]
  dedup: {{ window: 1h }}
steps:
  - id: evidence
    uses: bench.search
    with: {{ index: "logs-model-gateway-*", model: "{{{{ alert.title }}}}", size: 5 }}
  - id: hold
    wait: 1h
"""


def storm_catalog(home: Path) -> Any:
    """The storm playbook under ``home/pb``, with the bench's actions."""
    from bench.actions import BENCH_REGISTRY
    from engine.spec.catalog import load_catalog

    return load_catalog([home / "pb"], BENCH_REGISTRY)


async def receiver(address: str, queue: str, home: Path, port: int) -> None:
    """The receiver with its spool and its hand-over process, until SIGTERM."""
    import functools

    from pydantic import SecretStr

    from bench.stack import connect
    from engine.heap import freeze_startup_heap
    from engine.ingest.config import ReceiverConfig
    from engine.ingest.core import build_ingest
    from engine.ingest.handover_process import HandoverSpec
    from engine.ingest.server import serve_receiver
    from engine.settings import ReceiverSettings, Settings, TemporalSettings

    client = await connect(address)
    catalog = storm_catalog(home)
    settings = Settings(
        home=home,
        temporal=TemporalSettings(task_queue=queue),
        receiver=ReceiverSettings(listen=f"127.0.0.1:{port}"),
    )
    # Rate limits off: this measures what the receiver and Temporal can take, not the limiter.
    config = ReceiverConfig(
        webhook_secret=SecretStr(SECRET), rate_per_s=1e6, rate_burst=1_000_000, spool=True
    )
    handover = HandoverSpec(  # as the fireline commands run it: a child of its own, niced
        settings, functools.partial(connect, address), functools.partial(storm_catalog, home)
    )
    ingest = build_ingest(settings, client, catalog, elasticsearch_url=None, config=config, handover=handover)
    stop = asyncio.Event()

    def listening(url: str) -> None:
        freeze_startup_heap()  # as `fireline receiver` does once it listens
        print(f"ready {url}", flush=True)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve_receiver(
        settings,
        client,
        catalog,
        stop,
        elasticsearch_url=None,
        ingest=ingest,
        on_listening=listening,
    )


class _Connection:
    """One keep-alive HTTP/1.1 connection with nothing on top (a load tool, not a client library)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{head}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        try:
            self.writer.write(request)
            await self.writer.drain()
            status_line = await self.reader.readuntil(b"\r\n")
            length = 0
            while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            data = await self.reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.close()
            raise
        return int(status_line.split()[1]), data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def sender(
    url: str, tag: str, alerts: int, fingerprints: int, connections: int, rate: float = 0.0
) -> dict[str, Any]:
    """Post every alert until acknowledged; latencies of the acknowledged attempts (see the module doc)."""
    from urllib.parse import urlsplit

    from engine.ingest.auth import SIGNATURE_HEADER, sign

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    late: list[float] = []  # paced: how long after it was due each answered alert went out
    acknowledged: dict[str, list[str | None]] = {}
    retries = 0

    async def one(conn: _Connection, i: int, due: float | None) -> None:
        nonlocal retries
        doc = {
            "id": f"storm-{tag}-{i}",
            "rule": "storm-token-burn",
            "title": f"token burn {i}",
            "fingerprint": f"fp-{tag}-{i % fingerprints}",
        }
        body = json.dumps(doc).encode()
        deadline = time.monotonic() + 120
        while True:
            headers = {SIGNATURE_HEADER: sign(SECRET, body), "Content-Type": "application/json"}
            sent = time.perf_counter()
            try:
                status, data = await conn.post("/alerts/generic", body, headers)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                status, data = 0, b""
            if 200 <= status < 300:
                latencies.append(time.perf_counter() - (sent if due is None else min(sent, due)))
                if due is not None:
                    late.append(sent - due)
                outcome = json.loads(data)["alerts"][0]
                runs = [p.get("run_id") for p in outcome.get("playbooks", [])]
                acknowledged[str(doc["id"])] = [str(doc["fingerprint"]), outcome["status"], *runs]
                return
            if 300 <= status < 500:
                raise RuntimeError(f"receiver answered {status}: {data[:200]!r}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"alert {doc['id']} not acknowledged within 120 s")
            retries += 1
            await asyncio.sleep(0.2)

    async def connection(numbers: range) -> None:
        conn = _Connection(host, port)
        try:
            for i in numbers:
                due = None if rate <= 0 else started + i / rate
                if due is not None and (ahead := due - time.perf_counter()) > 0:
                    await asyncio.sleep(ahead)
                await one(conn, i, due)
        finally:
            conn.close()

    per = alerts // connections
    started = time.perf_counter()
    if rate > 0:  # alerts interleave over the connections, so every connection has one due each 50/RATE s
        numbers = [range(k, per * connections, connections) for k in range(connections)]
    else:
        numbers = [range(k * per, (k + 1) * per) for k in range(connections)]
    await asyncio.gather(*(connection(r) for r in numbers))
    return {
        "seconds": time.perf_counter() - started,
        "cpu_s": time.process_time(),
        "latencies": latencies,
        "late": late,
        "acknowledged": acknowledged,
        "retries": retries,
    }


async def raw(address: str, queue: str, n: int, fingerprints: int, connections: int) -> dict[str, Any]:
    """Start ``n`` hand-written workflows over ``fingerprints`` ids (``USE_EXISTING`` for repeats)."""
    from temporalio.common import WorkflowIDConflictPolicy

    from bench import baseline
    from bench.runs import INCIDENT
    from bench.stack import connect

    client = await connect(address)
    tag = uuid.uuid4().hex[:6]
    per = n // connections

    async def caller(k: int) -> None:
        for i in range(k * per, (k + 1) * per):
            await client.start_workflow(
                baseline.Approval.run,
                INCIDENT,
                id=f"bl-storm-{tag}-{i % fingerprints}",
                task_queue=queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller(k) for k in range(connections)))
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    ids = sorted({f"bl-storm-{tag}-{i % fingerprints}" for i in range(per * connections)})
    return {"seconds": seconds, "cpu_s": cpu_s, "started": per * connections, "ids": ids}


def main(argv: list[str]) -> int:
    """Dispatch to one of the three roles."""
    role, args = argv[0], argv[1:]
    if role == "receiver":
        profile = os.environ.get("BENCH_RECEIVER_PROFILE")  # a path: cProfile the receiver into it
        if profile:
            import cProfile

            with cProfile.Profile() as prof:
                asyncio.run(receiver(args[0], args[1], Path(args[2]), int(args[3])))
            prof.dump_stats(profile)
        else:
            asyncio.run(receiver(args[0], args[1], Path(args[2]), int(args[3])))
    elif role == "sender":
        rate = float(args[5]) if len(args) > 5 else 0.0
        alerts, fingerprints, connections = (int(a) for a in args[2:5])
        found = asyncio.run(sender(args[0], args[1], alerts, fingerprints, connections, rate=rate))
        print(json.dumps(found), flush=True)
    elif role == "raw":
        found = asyncio.run(raw(args[0], args[1], *(int(a) for a in args[2:5])))
        print(json.dumps(found), flush=True)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    sys.stdout.flush()
    os._exit(0)  # skip finalizers: the SDK's native threads can crash a normal shutdown


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
