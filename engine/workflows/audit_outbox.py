"""How a run's audit events leave the sandbox: the run puts each one in its worker's outbox.

The worker's relay (engine.activities.audit_relay) gives the runs its outbox's ``put`` as the
extern function :data:`AUDIT_EXTERN`, as the metrics interceptor gives its recorder. Putting
changes nothing the run reads, so the run stays deterministic: on replay it puts the same events
again (the relay skips what is stored). Only runs the relay opened are kept; for any other run an
event is dropped at once.
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


#: The extern function a run hands its audit events to: ``put(temporal_run_id, event)``.
AUDIT_EXTERN = "__fireline_audit"


def drop(event: AuditEvent) -> None:
    """Where a run's events go on a worker that keeps no trail."""
