"""How a run's audit events leave the sandbox: the run puts each one here, its worker takes them.

Putting is the run's only contact with this module, and it changes nothing the run reads, so the
run stays deterministic: on replay it puts the same events again (the worker skips those it has
stored). Only runs a worker opened (one whose runner relays the trail) are kept; for any other
run an event is dropped at once, so a worker that keeps no trail holds none.
"""

from __future__ import annotations

import threading

from engine.plan.audit import AuditEvent


class AuditOutbox:
    """Events put by runs, per Temporal run id, until their worker takes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, list[AuditEvent]] = {}

    def open(self, run_id: str) -> None:
        """Keep what the run ``run_id`` puts from now on."""
        with self._lock:
            self._events.setdefault(run_id, [])

    def close(self, run_id: str) -> None:
        """Stop keeping events of ``run_id`` and forget those not taken."""
        with self._lock:
            self._events.pop(run_id, None)

    def put(self, run_id: str, event: AuditEvent) -> None:
        """Called by the run (inside the sandbox) for each event it appends."""
        with self._lock:
            kept = self._events.get(run_id)
            if kept is not None:
                kept.append(event)

    def take(self, run_id: str) -> list[AuditEvent]:
        """The events put since the last take."""
        with self._lock:
            kept = self._events.get(run_id)
            if not kept:
                return []
            self._events[run_id] = []
            return kept


#: The one outbox of this process: runs reach it through the sandbox's passthrough of ``engine``.
OUTBOX = AuditOutbox()
