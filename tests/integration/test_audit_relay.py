"""The worker's audit relay: a run's events reach Elasticsearch only once their task is in history.

The activations and completions here are the SDK's own protobuf messages, shaped as the worker
hands them to the runner; the store is a real Elasticsearch-compatible server.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.bridge.proto.workflow_activation import RemoveFromCache, WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion

from engine.activities.audit import AuditStore
from engine.activities.audit_relay import AuditRelay
from engine.metrics import REGISTRY, sample_value
from engine.plan.audit import GENESIS, AuditChain, AuditEvent, verify_chain
from engine.stack.processes import free_port, noida_elasticsearch
from engine.workflows.audit_outbox import AuditOutbox
from tests.fixtures.elasticsearch import elasticsearch_url  # noqa: F401

pytestmark = pytest.mark.integration


class Run:
    """One run's chain, putting its events into an outbox the way the workflow does."""

    def __init__(self, outbox: AuditOutbox) -> None:
        self.outbox = outbox
        self.run_id = f"relay-{uuid.uuid4().hex[:8]}"
        self.temporal_run = uuid.uuid4().hex
        self.chain = AuditChain(self.run_id, "relay-test", 1, "0" * 64)
        self.chain.relay_to(lambda e: outbox.put(self.temporal_run, e))

    def append(self, n: int) -> list[AuditEvent]:
        return [self.chain.append(datetime.now(UTC), "step.started", step=f"s{i}") for i in range(n)]

    def activation(
        self, *, replaying: bool = False, evict: bool = False, reason: int = RemoveFromCache.CACHE_FULL
    ) -> WorkflowActivation:
        act = WorkflowActivation(run_id=self.temporal_run, is_replaying=replaying)
        if evict:
            act.jobs.add().remove_from_cache.reason = reason  # type: ignore[assignment]
        else:
            act.jobs.add().fire_timer.seq = 1
        return act

    def completion(
        self, *, ends: bool = False, child: bool = False, fails: bool = False
    ) -> WorkflowActivationCompletion:
        done = WorkflowActivationCompletion(run_id=self.temporal_run)
        if fails:
            done.failed.failure.message = "boom"
            return done
        done.successful.commands.add().start_timer.seq = 2
        if ends:
            done.successful.commands.add().complete_workflow_execution.SetInParent()
        if child:
            done.successful.commands.add().start_child_workflow_execution.workflow_id = "child"
        return done


def relay_for(url: str, **options: float) -> tuple[AuditStore, AuditRelay, Run]:
    """A relay over its own outbox and a store at ``url``, and one run on it."""
    outbox = AuditOutbox()
    store = AuditStore(url)
    relay = AuditRelay(store, outbox=outbox, **options)
    run = Run(outbox)
    relay.opened(run.temporal_run)
    return store, relay, run


def stored(store: AuditStore, run: Run) -> list[int]:
    return [e.seq for e in store.read(run.run_id)]


def eventually_stored(store: AuditStore, run: Run, want: list[int], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while stored(store, run) != want:
        assert time.monotonic() < deadline, f"stored {stored(store, run)}, want {want}"
        time.sleep(0.05)


def test_events_of_a_task_are_written_once_the_next_activation_shows_it_was_accepted(
    elasticsearch_url: str,
) -> None:
    store, relay, run = relay_for(elasticsearch_url, flush_after_s=0.01)
    run.append(2)
    relay.after_activation(run.activation(), run.completion(), time.monotonic())
    time.sleep(0.3)
    assert stored(store, run) == []  # held: the server may still refuse that task
    run.append(1)
    relay.after_activation(run.activation(), run.completion(), time.monotonic())
    eventually_stored(store, run, [1, 2])  # the third is held in its turn
    assert relay.pending() == 0


def test_the_end_of_a_run_waits_until_its_whole_trail_is_stored(elasticsearch_url: str) -> None:
    outbox = AuditOutbox()
    store = AuditStore(elasticsearch_url)
    relay = AuditRelay(store, outbox=outbox, flush_after_s=30)  # only an end makes it write now
    for settling in ({"ends": True}, {"child": True}):
        run = Run(outbox)
        relay.opened(run.temporal_run)
        run.append(3)
        relay.after_activation(run.activation(), run.completion(), time.monotonic())
        run.append(2)
        relay.after_activation(run.activation(), run.completion(**settling), time.monotonic())
        events = store.read(run.run_id)  # read as soon as the completion could reach the server
        assert [e.seq for e in events] == [1, 2, 3, 4, 5], settling
        assert verify_chain(run.run_id, events).ok


def test_replayed_events_are_written_and_unaccepted_ones_are_dropped(elasticsearch_url: str) -> None:
    store, relay, run = relay_for(elasticsearch_url, flush_after_s=0.01)
    run.append(2)
    relay.after_activation(run.activation(replaying=True), run.completion(), time.monotonic())
    eventually_stored(store, run, [1, 2])  # from history: no need to wait for the next task
    first = store.read(run.run_id)

    # Replayed once more, the SDK ran two handlers of a task the other way round: what is stored
    # stays, and another worker (no memory of what it wrote) finds the seqs taken in Elasticsearch.
    for fresh in (relay, AuditRelay(store, outbox=run.outbox, flush_after_s=0.01)):
        fresh.opened(run.temporal_run)
        run.chain.seq, run.chain.last_hash = 0, GENESIS
        run.chain.append(datetime.now(UTC), "alert.joined")
        run.append(1)
        fresh.after_activation(run.activation(replaying=True), run.completion(), time.monotonic())
        time.sleep(0.3)
        assert fresh.pending() == 0
        assert store.read(run.run_id) == first

    run.append(1)  # a task that fails, then the eviction that follows it
    relay.after_activation(run.activation(), run.completion(fails=True), time.monotonic())
    run.append(1)
    relay.after_activation(run.activation(), run.completion(), time.monotonic())
    relay.after_activation(run.activation(evict=True), run.completion(), time.monotonic())
    time.sleep(0.3)
    assert stored(store, run) == [1, 2]  # neither is known to be in history
    run.append(1)  # after the eviction the run is no longer kept: it is not on this worker
    assert run.outbox.take(run.temporal_run) == []


def test_an_ending_the_server_refused_is_taken_back_and_its_retry_written(elasticsearch_url: str) -> None:
    store, relay, run = relay_for(elasticsearch_url, flush_after_s=0.01)
    run.append(2)
    relay.after_activation(run.activation(), run.completion(), time.monotonic())
    ending = run.chain.seq, run.chain.last_hash
    run.append(2)  # the last two, written before the ending goes to the server
    relay.after_activation(run.activation(), run.completion(ends=True), time.monotonic())
    assert stored(store, run) == [1, 2, 3, 4]
    # A signal came first: the server refuses the ending, the worker evicts the run and replays it.
    relay.after_activation(
        run.activation(evict=True, reason=RemoveFromCache.UNHANDLED_COMMAND),
        run.completion(),
        time.monotonic(),
    )
    relay.opened(run.temporal_run)
    run.chain.seq, run.chain.last_hash = ending
    run.chain.append(datetime.now(UTC), "alert.joined")  # the retry: the signal's event comes first
    run.append(2)
    relay.after_activation(run.activation(), run.completion(ends=True), time.monotonic())
    events = store.read(run.run_id)
    assert [(e.seq, e.action) for e in events][2:] == [
        (3, "alert.joined"),
        (4, "step.started"),
        (5, "step.started"),
    ]
    report = verify_chain(run.run_id, events)
    assert report.ok and report.forks == 0, report

    # An ending the server took (the eviction that follows a run's end) stays as written.
    relay.after_activation(
        run.activation(evict=True, reason=RemoveFromCache.WORKFLOW_EXECUTION_ENDING),
        run.completion(),
        time.monotonic(),
    )
    time.sleep(0.3)
    assert stored(store, run) == [1, 2, 3, 4, 5]


def test_a_run_no_worker_opened_keeps_nothing() -> None:
    outbox = AuditOutbox()
    run = Run(outbox)
    run.append(3)
    assert outbox.take(run.temporal_run) == []
    outbox.open(run.temporal_run)
    run.append(1)
    assert [e.seq for e in outbox.take(run.temporal_run)] == [4]


def test_while_elasticsearch_is_down_the_run_ends_and_its_trail_follows_once_it_is_back(
    tmp_path: Path,
) -> None:
    port = free_port()
    store, relay, run = relay_for(f"http://127.0.0.1:{port}", wait_s=0.5)  # nothing listens there yet
    run.append(4)
    started = time.monotonic()
    relay.after_activation(run.activation(), run.completion(ends=True), started)
    assert 0.4 < time.monotonic() - started < 1.5  # waited its bound, then let the run end
    assert relay.pending() == 4
    assert sample_value(REGISTRY, "fireline_audit_events_pending", {}) == 4  # what operators see
    other = Run(run.outbox)  # the relay knows writes fail now: the next run to end does not wait again
    relay.opened(other.temporal_run)
    other.append(2)
    started = time.monotonic()
    relay.after_activation(other.activation(), other.completion(ends=True), started)
    assert time.monotonic() - started < 0.2
    assert relay.pending() == 6
    server = noida_elasticsearch(tmp_path, port=port).start()
    try:
        eventually_stored(store, run, [1, 2, 3, 4], timeout_s=30)
        eventually_stored(store, other, [1, 2])
        assert verify_chain(run.run_id, store.read(run.run_id)).ok
        assert relay.pending() == 0
        assert sample_value(REGISTRY, "fireline_audit_events_pending", {}) == 0
    finally:
        relay.close()
        server.stop()


def test_beyond_its_bound_the_relay_drops_the_oldest_events_and_counts_them() -> None:
    _, relay, run = relay_for(f"http://127.0.0.1:{free_port()}", max_queued=3)
    before = sample_value(REGISTRY, "fireline_audit_events_dropped_total", {})
    try:
        run.append(5)
        relay.after_activation(run.activation(replaying=True), run.completion(), time.monotonic())
        assert relay.pending() == 3 and relay.dropped == 2
        assert sample_value(REGISTRY, "fireline_audit_events_dropped_total", {}) == before + 2
    finally:
        relay.close()
