"""Audit writes off the step's critical path: one bulk for many activities, acknowledged only once stored.

This is the trail's path for runs recorded before the audit outbox (``AUDIT_OUTBOX_PATCH``); runs
started since hand their events to the worker's :mod:`engine.activities.audit_relay` instead, and
their requests carry none.

``run_action`` hands its request's audit events to the worker's :class:`AuditWriter` and runs the
action at once; the writer sends everything queued meanwhile, from every run, in one bulk request
(group commit). The activity reports as stored only the events Elasticsearch has already
acknowledged; the others stay pending in the run and ride along with its next request (or go with
its final store, which waits), so an event is never marked stored before it is. Re-sending a stored
event is harmless: its document id makes the write idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Sequence

from engine.activities.audit import AuditStore
from engine.plan.audit import AuditEvent

log = logging.getLogger("fireline.audit")
#: How many acknowledged events the writer remembers (to answer "already stored" without a write).
REMEMBER = 200_000
MAX_BATCH = 1000

_Key = tuple[str, int, str]


def _key(event: AuditEvent) -> _Key:
    return (event.run_id, event.seq, event.hash)


class AuditWriter:
    """The worker's background audit writer over one :class:`AuditStore`."""

    def __init__(self, store: AuditStore, *, remember: int = REMEMBER, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self.remember = remember
        self.max_batch = max_batch
        self._stored: OrderedDict[_Key, None] = OrderedDict()
        self._queued: dict[_Key, AuditEvent] = {}
        self._waiters: list[tuple[set[_Key], asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def stored_seqs(self, events: Sequence[AuditEvent]) -> list[int]:
        """The seqs of ``events`` Elasticsearch has acknowledged."""
        return [e.seq for e in events if _key(e) in self._stored]

    def submit(self, events: Sequence[AuditEvent]) -> asyncio.Future[bool]:
        """Queue the events not stored yet; the future is True once all of them are (False on failure)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        wanted = {_key(e) for e in events if _key(e) not in self._stored}
        if not wanted:
            future.set_result(True)
            return future
        for event in events:
            if _key(event) in wanted:
                self._queued[_key(event)] = event
        self._waiters.append((wanted, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return future

    async def _flush(self) -> None:
        while self._queued:
            keys = list(self._queued)[: self.max_batch]
            batch = [self._queued.pop(k) for k in keys]
            try:
                ok = await asyncio.to_thread(self.store.write, batch)
            except Exception as exc:
                log.warning("%d audit events not stored yet: %s", len(batch), type(exc).__name__)
                ok = False
            if ok:
                for key in keys:
                    self._stored[key] = None
                while len(self._stored) > self.remember:
                    self._stored.popitem(last=False)
            self._settle(set(keys), ok)

    def _settle(self, written: set[_Key], ok: bool) -> None:
        still: list[tuple[set[_Key], asyncio.Future[bool]]] = []
        for wanted, future in self._waiters:
            if not ok and wanted & written:
                with contextlib.suppress(asyncio.InvalidStateError):
                    future.set_result(False)
                continue
            if all(k in self._stored for k in wanted):
                with contextlib.suppress(asyncio.InvalidStateError):
                    future.set_result(True)
                continue
            still.append((wanted, future))
        self._waiters = still
