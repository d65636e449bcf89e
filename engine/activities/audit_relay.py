"""The worker's audit relay: each run's trail, taken from its activations, into Elasticsearch.

A run puts every event it appends into the relay's outbox (:mod:`engine.workflows.audit_outbox`);
after each activation the worker's runner hands them here together with the activation and its
completion. An event is written once the workflow task that made it is part of the run's history:

- events of a replayed activation come from history: they are written at once, but only at seqs
  with nothing stored (the SDK may run one task's handlers in another order on replay);
- events of a new activation are held until the run's next activation, which Temporal delivers only
  after it has accepted this one's commands, so a task the server never took leaves no branch in
  the trail that the run did not take (its events are made again when the run is replayed);
- before an activation that ends the run, continues it as new or starts a child hands its commands
  to the server, the relay writes every event of the run it holds and waits (at most ``wait_s``)
  until Elasticsearch has them: a run that says it is done has its whole trail stored, and a child
  (the post-incident review) can read its parent's trail. While Elasticsearch refuses writes the
  wait is skipped: the run ends and its events stay queued.

Writes are batched across runs (a group commit at most ``flush_after_s`` after an event is due) and
retried with back-off while Elasticsearch refuses them. An event this worker never wrote (it died
first) is lost to no one: the chain is a deterministic function of the run's history, and the next
worker to replay the run writes it.
"""

from __future__ import annotations

import atexit
import enum
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

from temporalio.bridge.proto.workflow_activation import RemoveFromCache, WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.worker import Interceptor, WorkflowInboundInterceptor, WorkflowInterceptorClassInput

from engine import metrics
from engine.activities.audit import AuditStore
from engine.plan.audit import AuditEvent
from engine.workflows.audit_outbox import AUDIT_EXTERN, AuditOutbox

log = logging.getLogger("fireline.audit")

#: Commands after which the trail must already be stored: the run's end, or a child that may read it.
SETTLING_COMMANDS = frozenset(
    {
        "complete_workflow_execution",
        "fail_workflow_execution",
        "cancel_workflow_execution",
        "continue_as_new_workflow_execution",
        "start_child_workflow_execution",
    }
)
#: The SDK calls an activation deadlocked after 2 s; a settling one waits for its write less than that.
WAIT_S = 1.5
FLUSH_AFTER_S = 0.1
MAX_BATCH = 1000
#: Events waiting for Elasticsearch beyond this are dropped, oldest first (a replay makes them again).
MAX_QUEUED = 200_000
#: Seqs the relay remembers as stored, so a replay of a recent run writes (and looks up) nothing.
REMEMBER = 20_000
RETRY_MAX_S = 10.0
#: A relay thread with nothing to write for this long ends (the next event starts another).
IDLE_S = 30.0

#: Evictions after which the server had not taken the run's last task.
REFUSED = frozenset(
    {RemoveFromCache.EvictionReason.UNHANDLED_COMMAND, RemoveFromCache.EvictionReason.TASK_NOT_FOUND}
)

_Key = tuple[str, int, str]


class Op(enum.Enum):
    """What the relay does with a queued event."""

    WRITE = "write"
    #: Write only if nothing is stored at its seq (an event made again by a replay).
    FILL = "fill"
    #: Delete it (written for a task the server then refused).
    REMOVE = "remove"


def _key(event: AuditEvent) -> _Key:
    return (event.run_id, event.seq, event.hash)


def settles(completion: WorkflowActivationCompletion) -> bool:
    """Whether ``completion`` ends the run, continues it as new or starts a child."""
    if not completion.HasField("successful"):
        return False
    return any(c.WhichOneof("variant") in SETTLING_COMMANDS for c in completion.successful.commands)


class AuditRelay:
    """Writes the trails of one worker's runs to one :class:`AuditStore`, in a thread of its own."""

    def __init__(
        self,
        store: AuditStore,
        *,
        outbox: AuditOutbox | None = None,
        wait_s: float = WAIT_S,
        flush_after_s: float = FLUSH_AFTER_S,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self.store = store
        self.outbox = outbox or AuditOutbox()
        self.wait_s = wait_s
        self.flush_after_s = flush_after_s
        self.max_queued = max_queued
        self._cond = threading.Condition()
        self._held: dict[str, list[AuditEvent]] = {}
        #: Events due for writing, each with the Temporal run it came from.
        self._queued: OrderedDict[_Key, tuple[AuditEvent, str, Op]] = OrderedDict()
        #: (run, seq) of every event this relay stored: a replay only fills in what is missing.
        self._seqs: OrderedDict[tuple[str, int], None] = OrderedDict()
        #: Per run, the events an ending task wrote before the server had taken that task.
        self._tentative: dict[str, list[AuditEvent]] = {}
        self._urgent = False
        self._failures = 0
        self._thread: threading.Thread | None = None
        self._closing = False
        self._at_exit = False
        self._dropped_logged = 0.0
        #: Events dropped because too many waited (counted for tests and logs).
        self.dropped = 0

    # -- the runner's side ----------------------------------------------------------------------------
    def opened(self, run_id: str) -> None:
        """A run's instance was created on this worker: keep what it puts."""
        self.outbox.open(run_id)

    def after_activation(
        self, act: WorkflowActivation, completion: WorkflowActivationCompletion, started: float
    ) -> None:
        """Take the run's new events and write, hold or drop them (see the module's docstring).

        Args:
            act: The activation the run has just run.
            completion: What the run answered; not yet sent to the server.
            started: ``time.monotonic()`` when the activation began (bounds the wait).
        """
        # The SDK never runs two activations of one run at once, so a run's entries below are only
        # ever touched by one thread at a time.
        run_id = act.run_id
        events = self.outbox.take(run_id)
        tentative = self._tentative.pop(run_id, [])
        eviction = next((j.remove_from_cache for j in act.jobs if j.HasField("remove_from_cache")), None)
        if eviction is not None:
            self.outbox.close(run_id)
            self._held.pop(run_id, None)  # not known to be in history: a replay makes them again
            if tentative and eviction.reason in REFUSED:
                # The server refused the task that ended the run (a signal came first): its retry
                # makes these events again, at another time, so the written ones must not stay.
                self._enqueue(run_id, tentative, urgent=True, op=Op.REMOVE)
            return
        due = self._held.pop(run_id, [])  # the task that made them was accepted: this one came
        if act.is_replaying:
            # Made again from history; the SDK may order handlers of one task differently on
            # replay, so these only fill in seqs with nothing stored (a worker died before writing).
            self._enqueue(run_id, events, urgent=False, op=Op.FILL)
        elif completion.HasField("successful"):
            self._held[run_id] = events
        if settles(completion):
            live = self._held.pop(run_id, [])
            self._write_and_wait(run_id, due + live, started + self.wait_s)
            if live:
                self._tentative[run_id] = live
        elif due:
            self._enqueue(run_id, due, urgent=False)

    # -- writing --------------------------------------------------------------------------------------
    def _enqueue(self, run_id: str, events: Iterable[AuditEvent], *, urgent: bool, op: Op = Op.WRITE) -> None:
        with self._cond:
            for event in events:
                key = _key(event)
                if op is Op.REMOVE:
                    self._seqs.pop(key[:2], None)
                elif op is Op.FILL and (key[:2] in self._seqs or key in self._queued):
                    continue  # stored already (this event or another at its seq), or queued
                self._queued[key] = (event, run_id, op)
            while len(self._queued) > self.max_queued:
                self._queued.popitem(last=False)
                self.dropped += 1
                metrics.audit_dropped()
                if time.monotonic() - self._dropped_logged > 10:
                    self._dropped_logged = time.monotonic()
                    log.error("%d audit events dropped unwritten: Elasticsearch refuses writes", self.dropped)
            metrics.audit_pending(len(self._queued))
            self._urgent = self._urgent or urgent
            self._start()
            self._cond.notify_all()

    def _write_and_wait(self, run_id: str, events: list[AuditEvent], deadline: float) -> None:
        self._enqueue(run_id, events, urgent=True)
        with self._cond:
            # While Elasticsearch refuses writes, waiting cannot store anything: the run ends at once
            # (its events stay queued) instead of holding a workflow task slot for the full wait.
            wait_s = 0.0 if self._failures else max(0.0, deadline - time.monotonic())
            done = self._cond.wait_for(
                lambda: all(r != run_id for _, r, _ in self._queued.values()), timeout=wait_s
            )
        if not done:
            log.warning("audit events of run %s not stored yet; the relay goes on trying", run_id)

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._closing = False
            self._thread = threading.Thread(target=self._loop, name="fireline-audit-relay", daemon=True)
            self._thread.start()
            if not self._at_exit:
                self._at_exit = True
                atexit.register(self.close)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queued) or self._closing, timeout=IDLE_S)
                if not self._queued:
                    self._thread = None  # under the lock: the next event starts a new one
                    return
                if not self._urgent and not self._closing:
                    # A group commit: what every run makes in the next moment goes in the same bulk.
                    self._cond.wait_for(lambda: self._urgent or self._closing, timeout=self.flush_after_s)
                self._urgent = False
                batch = [self._queued[k] for k in list(self._queued)[:MAX_BATCH]]
            try:
                ok = self._apply(batch)
            except Exception as exc:
                log.warning("%d audit events not stored yet: %s", len(batch), type(exc).__name__)
                ok = False
            with self._cond:
                if ok or not self.store.url:
                    self._settle(batch)
                    self._failures = 0
                    continue
                self._failures += 1
                pause = min(RETRY_MAX_S, 0.2 * 2 ** min(self._failures, 8))
                if self._closing or self._cond.wait_for(lambda: self._closing, timeout=pause):
                    self._thread = None  # closing while Elasticsearch refuses: a replay makes them again
                    return

    def _apply(self, batch: list[tuple[AuditEvent, str, Op]]) -> bool:
        """Write the batch; a replayed event only where Elasticsearch has nothing at its seq."""
        fills = [e for e, _, op in batch if op is Op.FILL]
        taken = {chain: self.store.stored_seqs(chain) for chain in {e.run_id for e in fills}}
        writes = [e for e, _, op in batch if op is Op.WRITE]
        writes += [e for e in fills if e.seq not in taken[e.run_id]]
        return self.store.write(writes, remove=[e for e, _, op in batch if op is Op.REMOVE])

    def _settle(self, batch: list[tuple[AuditEvent, str, Op]]) -> None:
        for event, _, op in batch:
            key = _key(event)
            if self._queued.get(key, (event, "", op))[2] is op:
                self._queued.pop(key, None)  # else a newer write or removal of it came meanwhile
            if op is not Op.REMOVE:
                self._seqs[key[:2]] = None  # an event is stored at this seq: this one or another
        while len(self._seqs) > REMEMBER:
            self._seqs.popitem(last=False)
        metrics.audit_pending(len(self._queued))
        self._cond.notify_all()

    def pending(self) -> int:
        """Events waiting for Elasticsearch (held ones not counted)."""
        with self._cond:
            return len(self._queued)

    def running(self) -> bool:
        """True while the relay's thread writes, retries or waits for events."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what is due (for at most ``timeout_s``) and stop the thread."""
        thread = self._thread
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout_s)


class AuditRelayInterceptor(Interceptor):
    """Gives the worker's runs the relay's outbox as the extern function ``AUDIT_EXTERN``."""

    def __init__(self, relay: AuditRelay) -> None:
        self.relay = relay

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        """Registers the extern function; no interceptor class of its own."""
        input.unsafe_extern_functions[AUDIT_EXTERN] = self.relay.outbox.put
        return None
