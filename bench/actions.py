"""The engine side: a bench registry of trivial actions, the bench playbooks, their plans and alerts."""

from __future__ import annotations

import textwrap
import time
import uuid
from typing import Any

from bench import work
from engine.plan.compile import compile_plan
from engine.plan.models import Plan
from engine.registry import ActionRegistry
from engine.sdk import ActionContext, action
from engine.spec.catalog import Catalog, validate_text

BENCH_REGISTRY = ActionRegistry()
BENCH_REGISTRY._loaded = True  # only the actions below; no entry points
#: run id → perf_counter() when the step after an approval started (same process only).
MARKS: dict[str, float] = {}


@action("bench.search", registry=BENCH_REGISTRY, idempotent=True)
async def search(index: str, model: str, size: int = work.HITS) -> dict[str, Any]:
    """Search-like: gateway log hits."""
    return work.search(index, model, size)


@action("bench.enrich", registry=BENCH_REGISTRY, idempotent=True)
async def enrich(keys: list[str]) -> dict[str, Any]:
    """Key owners."""
    return work.enrich(keys)


@action("bench.score", registry=BENCH_REGISTRY, idempotent=True)
async def score(total: int, owners: dict[str, str]) -> dict[str, Any]:
    """A risk score."""
    return work.score(total, owners)


@action("bench.contain", registry=BENCH_REGISTRY, idempotent=True)
async def contain(keys: list[str], reason: str) -> dict[str, Any]:
    """A deny-list change."""
    return work.contain(keys, reason)


@action("bench.post", registry=BENCH_REGISTRY, idempotent=True)
async def post(channel: str, text: str) -> dict[str, Any]:
    """Post-like: a chat message."""
    return work.post(channel, text)


@action("bench.query", registry=BENCH_REGISTRY, idempotent=True)
async def query(
    index: str, query: dict[str, Any], size: int = 20, sort: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """An Elasticsearch-shaped query (used by the generated playbooks that are only validated)."""
    return {"index": index, "query": query, "size": size, "sort": sort or []}


@action("bench.mark", registry=BENCH_REGISTRY, idempotent=True)
async def mark(ctx: ActionContext) -> dict[str, Any]:
    """Record when this step started (approval latency)."""
    MARKS[ctx.run_id] = time.perf_counter()
    return {"marked": True}


HEAD = "apiVersion: fireline/v1\nkind: Playbook\n"

FIVE_STEPS = """\
metadata: { name: bench-five-steps, version: 1, owner: bench }
steps:
  - id: search
    uses: bench.search
    with: { index: "logs-model-gateway-*", model: "{{ alert.entities.models[0] }}", size: 20 }
  - id: keys
    uses: bench.enrich
    with: { keys: "{{ steps.search.output.hits | map(attribute='user.api_key.id') | unique | list }}" }
  - id: score
    uses: bench.score
    with: { total: "{{ steps.search.output.total }}", owners: "{{ steps.keys.output.owners }}" }
  - id: contain
    uses: bench.contain
    with: { keys: "{{ steps.keys.output.keys }}", reason: "risk {{ steps.score.output.score }}" }
  - id: post
    uses: bench.post
    with:
      channel: "#ai-incidents"
      text: "{{ alert.title }}: blocked {{ steps.contain.output.blocked | length }} keys"
outputs:
  blocked: "{{ steps.contain.output.blocked }}"
"""

APPROVAL = """\
metadata: { name: bench-approval, version: 1, owner: bench }
steps:
  - id: evidence
    uses: bench.search
    with: { index: "logs-model-gateway-*", model: "{{ alert.entities.models[0] }}", size: 20 }
  - id: approve
    approval:
      title: "Block the keys behind {{ alert.entities.models[0] }}?"
      details: "{{ steps.evidence.output.total }} suspicious calls"
      approvers: [user:bench]
      timeout: 1h
  - id: contain
    if: steps.approve.approved
    uses: bench.mark
"""


def plan_of(body: str) -> Plan:
    """Validate and compile one bench playbook against the bench registry."""
    entry = validate_text(HEAD + textwrap.dedent(body), "bench.yaml", BENCH_REGISTRY)
    if entry.diagnostics:
        raise ValueError("; ".join(d.render() for d in entry.diagnostics))
    catalog = Catalog(entries=[entry], by_name={entry.name or "": entry})
    return compile_plan(entry, catalog)


def bench_alert(fingerprint: str | None = None) -> dict[str, Any]:
    """A normalized alert (template view) of a realistic, small size."""
    return {
        "id": f"a-{uuid.uuid4().hex[:8]}",
        "source": "generic",
        "rule": "AI model prompt injection burst",
        "title": "Injection burst on support-assistant",
        "severity": "high",
        "fingerprint": fingerprint or uuid.uuid4().hex,
        "occurred_at": "2026-11-20T08:14:03Z",
        "received_at": "2026-11-20T08:14:05Z",
        "entities": {
            "hosts": ["gw-1"],
            "users": ["svc-0"],
            "ips": ["10.0.0.1"],
            "api_keys": ["key-0000"],
            "models": ["support-assistant"],
        },
        "fields": {"kibana.alert.rule.name": "AI model prompt injection burst", "count": 42},
    }
