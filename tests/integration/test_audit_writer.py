"""The background audit writer: an event counts as stored only once Elasticsearch has answered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from engine.activities.audit import AuditStore
from engine.activities.audit_writer import AuditWriter
from engine.plan.audit import AuditChain, AuditEvent, verify_chain
from engine.stack.processes import free_port
from tests.fixtures.elasticsearch import elasticsearch_url  # noqa: F401

pytestmark = pytest.mark.integration


def chain(run_id: str, n: int) -> list[AuditEvent]:
    audit = AuditChain(run_id, "writer-test", 1, "0" * 64)
    return [audit.append(datetime.now(UTC), "step.started", step=f"s{i}") for i in range(n)]


async def test_events_from_many_activities_share_bulks_and_are_acknowledged_after_the_write(
    elasticsearch_url: str,
) -> None:
    store = AuditStore(elasticsearch_url)
    writer = AuditWriter(store)
    runs = {f"writer-{i}": chain(f"writer-{i}", 4) for i in range(5)}
    futures = [writer.submit(events[:2]) for events in runs.values()]
    assert all(writer.stored_seqs(events) == [] for events in runs.values())  # nothing written yet
    assert await asyncio.gather(*futures) == [True] * 5
    for run_id, events in runs.items():
        assert writer.stored_seqs(events) == [1, 2]
        assert await writer.submit(events)  # the first two again ride along: only the rest is written
        stored = await asyncio.to_thread(store.read, run_id)
        assert verify_chain(run_id, stored).ok and len(stored) == 4


async def test_a_failed_write_acknowledges_nothing() -> None:
    writer = AuditWriter(AuditStore(f"http://127.0.0.1:{free_port()}"))  # nobody listens there
    events = chain("writer-down", 2)
    assert await writer.submit(events) is False
    assert writer.stored_seqs(events) == []
