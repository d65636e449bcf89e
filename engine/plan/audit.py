"""The audit trail of a run: a hash chain of events, built deterministically inside the run.

Each event carries the hash of the one before it for the same run, so a missing, reordered or
edited event is found by :func:`verify_chain`. The run computes the chain (deterministic, so
replay-safe); its worker only stores the events (engine.activities.audit_relay), with ids that make
re-delivery harmless.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

GENESIS = "0" * 64


class AuditEvent(BaseModel):
    """One link of the chain."""

    run_id: str
    seq: int
    at: datetime
    action: str
    playbook: str
    version: int
    sha256: str
    step: str | None = None
    outcome: str | None = None
    actor: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str
    hash: str = ""

    def digest(self) -> str:
        """sha256 over every field but ``hash``, canonically encoded."""
        body = self.model_dump(mode="json", exclude={"hash"})
        encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(encoded.encode()).hexdigest()


class AuditChain:
    """Appends events for one run and remembers which ones are not stored yet."""

    def __init__(self, run_id: str, playbook: str, version: int, sha256: str) -> None:
        self.run_id = run_id
        self.playbook = playbook
        self.version = version
        self.sha256 = sha256
        self.last_hash = GENESIS
        self.seq = 0
        self.pending: list[AuditEvent] = []
        self.enabled = True
        #: Where each event goes when the run relays its trail instead of keeping it pending.
        self.sink: Callable[[AuditEvent], None] | None = None

    def append(self, at: datetime, action: str, **fields: Any) -> AuditEvent:
        """Add an event after the last one."""
        self.seq += 1
        event = AuditEvent(
            run_id=self.run_id,
            seq=self.seq,
            at=at,
            action=action,
            playbook=self.playbook,
            version=self.version,
            sha256=self.sha256,
            prev_hash=self.last_hash,
            **fields,
        )
        event.hash = event.digest()
        self.last_hash = event.hash
        if self.sink is not None:
            self.sink(event)
        elif self.enabled:
            self.pending.append(event)
        return event

    def relay_to(self, sink: Callable[[AuditEvent], None]) -> None:
        """Hand every event to ``sink`` from now on, the pending ones first; none stays pending."""
        for event in self.pending:
            sink(event)
        self.pending.clear()
        self.sink = sink

    def restore(self, seq: int, last_hash: str, pending: list[AuditEvent], enabled: bool) -> None:
        """Go on from a chain an earlier Temporal run of this run built (continue-as-new)."""
        self.seq, self.last_hash, self.enabled = seq, last_hash, enabled
        self.pending = list(pending) if enabled else []

    def disable(self) -> None:
        """Stop keeping events for storage (the hash chain itself goes on)."""
        self.enabled = False
        self.pending.clear()

    def stored(self, events: list[AuditEvent]) -> None:
        """Forget events that an activity has stored."""
        done = {e.seq for e in events}
        self.pending = [e for e in self.pending if e.seq not in done]


class ChainReport(BaseModel):
    """The outcome of checking a run's stored chain."""

    run_id: str
    events: int
    ok: bool
    broken_at: int | None = None
    reason: str = ""
    #: Events on the branch the run ended on (after resets, the other branches are the replaced runs).
    current: int = 0
    #: Places where the trail forks; each must be a reset that the current branch records.
    forks: int = 0
    resets: int = 0


def verify_chain(run_id: str, events: list[AuditEvent]) -> ChainReport:
    """Check order, links and hashes; name the first broken link.

    A reset re-runs a run from a step, so the trail may fork: both branches stay stored. Every
    branch must link back to the first event, and the trail may fork no more often than the
    branch the run ended on records a ``run.reset``.
    """
    if not events:
        return ChainReport(run_id=run_id, events=0, ok=False, reason="no audit events stored for this run")
    unique = sorted({e.hash: e for e in events}.values(), key=lambda e: (e.seq, e.at))

    def broken(seq: int, reason: str) -> ChainReport:
        return ChainReport(run_id=run_id, events=len(unique), ok=False, broken_at=seq, reason=reason)

    for event in unique:
        if event.digest() != event.hash:
            return broken(event.seq, f"event {event.seq} was altered (its hash does not match its content)")
    seq_of = {GENESIS: 0} | {e.hash: e.seq for e in unique}
    children: dict[str, list[AuditEvent]] = {}
    orphans: list[AuditEvent] = []
    for event in unique:
        if seq_of.get(event.prev_hash) == event.seq - 1:
            children.setdefault(event.prev_hash, []).append(event)
        else:
            orphans.append(event)
    depth: dict[str, int] = {}
    for event in reversed(unique):  # children have higher seqs: they are measured first
        depth[event.hash] = 1 + max((depth[c.hash] for c in children.get(event.hash, [])), default=0)
    path: list[AuditEvent] = []
    tip = GENESIS
    while children.get(tip):
        # The branch the run ended on is the longest; of equal ones, the latest written.
        step = max(children[tip], key=lambda c: (depth[c.hash], c.at))
        path.append(step)
        tip = step.hash
    if orphans:
        first = orphans[0]
        stored = {e.seq for e in unique}
        if first.seq - 1 in stored or first.seq == 1:
            return broken(
                first.seq, f"event {first.seq} does not follow event {first.seq - 1} (prev_hash differs)"
            )
        gap = min(n for n in range(1, first.seq) if n not in stored)
        after = min(n for n in stored if n > gap)
        return broken(gap, f"event {gap} is missing (next stored is {after})")
    forks = sum(len(kids) - 1 for kids in children.values())
    resets = sum(1 for e in path if e.action == "run.reset")
    if forks > resets:
        at = min(kids[0].seq for kids in children.values() if len(kids) > 1)
        return broken(at, f"the trail forks at event {at} without a run.reset that names who re-ran the run")
    return ChainReport(
        run_id=run_id, events=len(unique), ok=True, current=len(path), forks=forks, resets=resets
    )
