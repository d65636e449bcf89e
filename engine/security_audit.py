"""Security events outside any run (refused requests, failed logins) on their own hash chain.

Recording an event never blocks the caller, an async request handler: the event is chained at once,
in call order, and one writer thread appends it to the JSONL file and stores it in Elasticsearch, in
batches, in chain order. A slow or unreachable cluster (or a flood of refusals) therefore never
stalls the event loop that also accepts alerts. :meth:`SecurityAudit.close` waits until everything
recorded has been written (the stack calls it on shutdown; the process's exit does too).
"""

from __future__ import annotations

import json
import logging
import threading
import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.activities.audit import AuditStore
from engine.plan.audit import AuditChain, AuditEvent

log = logging.getLogger("fireline.security")
#: How long the process's exit waits for events still being written (a hung cluster must not hang it).
EXIT_FLUSH_TIMEOUT_S = 30.0


class SecurityAudit:
    """Appends each event to a chain named after this process's start, stored in ES and a JSONL file."""

    def __init__(self, store: AuditStore | None, home: Path, *, component: str = "receiver") -> None:
        started = datetime.now(UTC)
        self.chain = AuditChain(f"security:{component}:{started:%Y%m%dT%H%M%S.%fZ}", "-", 0, "-")
        self.store = store
        self.path = home / "audit" / f"{self.chain.run_id.replace(':', '_')}.jsonl"
        self._writer = _Writer(self.chain, store, self.path)
        # Flushes at interpreter exit too (the writer thread is a daemon); holds no reference to self.
        weakref.finalize(self, self._writer.close, EXIT_FLUSH_TIMEOUT_S)

    def __call__(self, event: dict[str, Any]) -> None:
        """Record one security event (the callback receivers and the console are given); never blocks."""
        kind = str(event.get("kind", "security.event"))[:100]
        detail = {k: str(v)[:500] for k, v in event.items() if k not in ("kind", "outcome")}
        outcome = str(event.get("outcome", "refused"))[:20]
        self._writer.append(datetime.now(UTC), kind, outcome, detail)
        log.info("security event %s", kind)

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every event recorded so far is written; False if ``timeout_s`` passed first."""
        return self._writer.flush(timeout_s)

    def close(self, timeout_s: float | None = None) -> None:
        """Write what is left and stop the writer thread (later events are written by their caller)."""
        self._writer.close(timeout_s)


class _Writer:
    """The writer thread and its queue; started with the first event."""

    def __init__(self, chain: AuditChain, store: AuditStore | None, path: Path) -> None:
        self.chain = chain
        self.store = store
        self.path = path
        self._cond = threading.Condition()
        self._io = threading.Lock()  # one batch at a time, so the file keeps chain order
        self._queue: list[AuditEvent] = []
        self._recorded = 0
        self._written = 0
        self._closed = False
        self._thread: threading.Thread | None = None

    def append(self, at: datetime, kind: str, outcome: str, detail: dict[str, str]) -> None:
        with self._cond:
            record = self.chain.append(at, kind, outcome=outcome, detail=detail)
            self._recorded += 1
            if self._closed:
                pending = list(self.chain.pending)
            else:
                self._queue.append(record)
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="fireline-security-audit", daemon=True
                    )
                    self._thread.start()
                self._cond.notify_all()
                return
        self._write([record], pending)  # after close (shutdown): nobody else is left to write it

    def flush(self, timeout_s: float | None) -> bool:
        with self._cond:
            target = self._recorded
            return self._cond.wait_for(lambda: self._written >= target, timeout_s)

    def close(self, timeout_s: float | None = None) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
            if thread.is_alive():
                log.warning("security audit: events still being written at shutdown")

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._closed)
                if not self._queue:
                    return
                batch, self._queue = self._queue, []
                pending = list(self.chain.pending)
            self._write(batch, pending)

    def _write(self, batch: list[AuditEvent], pending: list[AuditEvent]) -> None:
        """The file first (local, the copy that always exists), then every event ES does not have yet."""
        with self._io:
            lines = "".join(json.dumps(e.model_dump(mode="json")) + "\n" for e in batch)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(lines)
            except OSError as exc:
                log.error("security audit: %d event(s) not written to %s: %s", len(batch), self.path, exc)
            stored = False
            try:
                stored = self.store.write(pending) if self.store is not None else False
            except Exception as exc:  # the file keeps them; the next batch tries again
                log.warning("security audit not stored in Elasticsearch: %s", type(exc).__name__)
            with self._cond:
                if stored:
                    self.chain.stored(pending)
                self._written += len(batch)
                self._cond.notify_all()
