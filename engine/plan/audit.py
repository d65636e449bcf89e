"""The audit trail of a run: a hash chain of events, built deterministically inside the run.

Each event carries the hash of the one before it for the same run, so a missing, reordered or
edited event is found by :func:`verify_chain`. The run computes the chain (deterministic, so
replay-safe); activities only store the events, with ids that make re-delivery harmless.
"""

from __future__ import annotations

import hashlib
import json
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
        if self.enabled:
            self.pending.append(event)
        return event

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


def verify_chain(run_id: str, events: list[AuditEvent]) -> ChainReport:
    """Check order, links and hashes; name the first broken link."""
    previous = GENESIS
    for expected_seq, event in enumerate(sorted(events, key=lambda e: e.seq), start=1):
        problem = ""
        if event.seq != expected_seq:
            problem = f"event {expected_seq} is missing (next stored is {event.seq})"
        elif event.prev_hash != previous:
            problem = f"event {event.seq} does not follow event {event.seq - 1} (prev_hash differs)"
        elif event.digest() != event.hash:
            problem = f"event {event.seq} was altered (its hash does not match its content)"
        if problem:
            return ChainReport(
                run_id=run_id, events=len(events), ok=False, broken_at=expected_seq, reason=problem
            )
        previous = event.hash
    if not events:
        return ChainReport(run_id=run_id, events=0, ok=False, reason="no audit events stored for this run")
    return ChainReport(run_id=run_id, events=len(events), ok=True)
