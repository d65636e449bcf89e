"""Figure 8: an alert storm on the real HTTP receiver (engine.ingest), the engine worker behind it.

Many senders post signed generic alerts that share a few fingerprints; the receiver must start
exactly one run per fingerprint and join every repeat to it.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench.actions import BENCH_REGISTRY
from bench.stats import per_second, percentile, summarize_ms

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


async def storm(client: Client, queue: str, alerts: int, fingerprints: int, senders: int) -> dict[str, Any]:
    """Send ``alerts`` alerts from ``senders`` concurrent connections; the engine worker must be running.

    engine.ingest is imported here, not at the top, so the rest of the bench runs without it.
    """
    import httpx
    from pydantic import SecretStr

    from engine.ingest.auth import SIGNATURE_HEADER, sign
    from engine.ingest.config import ReceiverConfig
    from engine.ingest.core import build_ingest
    from engine.ingest.receiver import build_app
    from engine.ingest.server import ReceiverServer
    from engine.settings import Settings, TemporalSettings
    from engine.spec.catalog import load_catalog

    tag = uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory(prefix="fireline-bench-ingest-") as tmp:
        home = Path(tmp)
        (home / "pb").mkdir()
        (home / "pb" / "storm.yaml").write_text(PLAYBOOK.format(name=f"storm-{tag}"), encoding="utf-8")
        catalog = load_catalog([home / "pb"], BENCH_REGISTRY)
        if catalog.diagnostics:
            raise RuntimeError("; ".join(d.render() for d in catalog.diagnostics))
        settings = Settings(home=home, temporal=TemporalSettings(task_queue=queue))
        # Rate limits off: this measures what the receiver and Temporal can take, not the limiter.
        config = ReceiverConfig(webhook_secret=SecretStr(SECRET), rate_per_s=1e6, rate_burst=1_000_000)
        ingest = build_ingest(settings, client, catalog, elasticsearch_url=None, config=config)
        server = ReceiverServer(build_app(ingest), "127.0.0.1", 0)
        url = await server.start()
        latencies: list[float] = []
        outcomes: list[dict[str, Any]] = []

        async def sender(numbers: range) -> None:
            async with httpx.AsyncClient(timeout=60) as http:
                for i in numbers:
                    doc = {
                        "id": f"storm-{tag}-{i}",
                        "rule": "storm-token-burn",
                        "title": f"token burn {i}",
                        "fingerprint": f"fp-{tag}-{i % fingerprints}",
                    }
                    body = json.dumps(doc).encode()
                    headers = {SIGNATURE_HEADER: sign(SECRET, body), "Content-Type": "application/json"}
                    sent = time.perf_counter()
                    response = await http.post(f"{url}/alerts/generic", content=body, headers=headers)
                    latencies.append(time.perf_counter() - sent)
                    if response.status_code != 202:
                        raise RuntimeError(f"receiver answered {response.status_code}: {response.text[:200]}")
                    outcomes.extend(response.json()["alerts"])

        per_sender = alerts // senders
        started = time.perf_counter()
        try:
            await asyncio.gather(
                *(sender(range(k * per_sender, (k + 1) * per_sender)) for k in range(senders))
            )
        finally:
            elapsed = time.perf_counter() - started
            await server.stop()
    statuses = Counter(str(o["status"]) for o in outcomes)
    run_ids = {p["run_id"] for o in outcomes for p in o.get("playbooks", []) if p.get("run_id")}
    for run_id in run_ids:
        await client.get_workflow_handle(run_id).terminate("bench done")
    lat = summarize_ms(latencies)
    return {
        "ingest_alerts": per_sender * senders,
        "ingest_fingerprints": fingerprints,
        "ingest_senders": senders,
        "ingest_alerts_per_s": per_second(len(latencies), elapsed),
        "ingest_accept_p50_ms": lat["p50"],
        "ingest_accept_p99_ms": round(percentile([x * 1000 for x in latencies], 99), 2),
        "ingest_runs_started": statuses.get("started", 0),
        "ingest_distinct_runs": len(run_ids),
        "ingest_statuses": dict(statuses),
    }
