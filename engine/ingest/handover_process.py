"""The hand-over in a process of its own, at a lower CPU priority than the receiver.

Handing alerts to Temporal costs the receiver's process more CPU than accepting them (a start or a
signal each, their answers, the alert log). In one process the two share one event loop and one
interpreter lock, and every hand-over burst delays the 202s behind it; in a storm the accept tail
grew to hundreds of milliseconds (bench/README). So the receiver process only appends to the spool,
and :class:`HandoverProcess` runs the :class:`~engine.ingest.handover.Handover` in a child that
follows the spool's files, restarts it when it dies, and stops it with the receiver. The child is
``nice``-d (:data:`HANDOVER_NICE`): when CPUs are short, accepting comes first and the spool absorbs
the difference. It stops when its parent goes away (its end of the pipe closes), even after a
``kill -9`` of the receiver; the spool's reader lock keeps a restarted child from starting before
the old one has let go. Counters move in the receiver's ``/metrics``: the child sends what it
counted over the pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from engine import metrics
from engine.ingest.config import DEFAULT_HANDOVER_NICE
from engine.ingest.models import AlertOutcome, RunDisposition

if TYPE_CHECKING:
    from temporalio.client import Client

    from engine.ingest.config import ReceiverConfig
    from engine.settings import Settings
    from engine.spec.catalog import Catalog

logger = logging.getLogger("fireline.ingest")
#: How much lower the hand-over's CPU priority is than the receiver's by default (``nice`` steps).
HANDOVER_NICE = DEFAULT_HANDOVER_NICE
FIRST_RESTART_S = 1.0
MAX_RESTART_S = 30.0
#: A child that ran this long before dying starts the next back-off from the beginning.
HEALTHY_S = 60.0
STOP_TIMEOUT_S = 20.0
#: How long a stopping child lets the batch in flight finish (so it is not handed over twice).
BATCH_GRACE_S = 15.0
COUNT_EVERY_S = 0.5

#: What the child counted for one alert: its source, its status, the playbooks it was a repeat for.
Counted = tuple[str, str, tuple[str, ...]]


@dataclass(frozen=True)
class Report:
    """What the child tells the receiver every :data:`COUNT_EVERY_S`."""

    counted: list[Counted]
    pending: int


@dataclass(frozen=True)
class HandoverSpec:
    """How a hand-over process rebuilds what it needs; everything here must pickle.

    Attributes:
        settings: the receiver's settings (home, task queue, Temporal, run options).
        connect: makes a Temporal client with the receiver's data converter.
        load_catalog: loads the receiver's playbooks.
        config: the receiver's limits (start concurrency and timeout), without its secrets;
            :func:`~engine.ingest.core.build_ingest` fills it in.
        nice: how many ``nice`` steps below the receiver the child runs (``build_ingest`` sets
            ``ReceiverConfig.handover_nice``).
    """

    settings: Settings
    connect: Callable[[], Awaitable[Client]]
    load_catalog: Callable[[], Catalog]
    config: ReceiverConfig | None = None
    nice: int = HANDOVER_NICE


def counted(outcome: AlertOutcome) -> Counted:
    """What the receiver's counters need to know about a handed-over alert."""
    repeats = tuple(
        p.playbook
        for p in outcome.playbooks
        if p.disposition in (RunDisposition.JOINED, RunDisposition.JOINED_CLOSED)
    )
    return outcome.source, outcome.status.value, repeats


def apply_counted(item: Counted) -> None:
    """Move the receiver's counters for what the child counted."""
    source, status, repeats = item
    metrics.alert_received(source, status)
    for playbook in repeats:
        metrics.alert_deduplicated(source, playbook)


class HandoverProcess:
    """Runs and supervises the hand-over child of one receiver (same interface as ``Handover``)."""

    def __init__(self, spec: HandoverSpec) -> None:
        self.spec = spec
        self._task: asyncio.Task[None] | None = None
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._spawning: asyncio.Future[BaseProcess] | None = None
        self._stopping = False
        #: Alerts waiting in the spool, as the child last said (None before it first did).
        self.pending: int | None = None

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        return self._process.pid if self._process is not None and self._process.is_alive() else None

    @property
    def running(self) -> bool:
        """Whether a hand-over child is running now (False while it is being started again)."""
        return self.pid is not None

    def start(self) -> None:
        """Start the child, and start it again whenever it dies (idempotent)."""
        self._stopping = False
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._supervise(), name="fireline-handover-process")

    async def stop(self) -> None:
        """Let the child finish its batch and exit; what is left stays spooled for the next start."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._spawning is not None:  # a child being started now must be stopped too
            with contextlib.suppress(Exception):
                await self._spawning
            self._spawning = None
        process, self._process = self._process, None
        self._close_pipe()  # the child reads the closed pipe as "stop"
        if process is not None:
            await _wait_exit(process, STOP_TIMEOUT_S)
            if process.is_alive():
                logger.warning("alert hand-over process did not stop in %.0f s; killing it", STOP_TIMEOUT_S)
                process.kill()
                await _wait_exit(process, 5.0)

    async def _supervise(self) -> None:
        pause = FIRST_RESTART_S
        while not self._stopping:
            began = time.monotonic()
            self._spawning = asyncio.ensure_future(asyncio.to_thread(self._spawn))
            try:
                process = await asyncio.shield(self._spawning)
            except Exception as exc:  # cannot start one now (no memory, no processes left): retry
                self._spawning = None
                logger.error("alert hand-over process not started (%s); retrying in %.0f s", exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_RESTART_S)
                continue
            self._spawning = None
            self._watch_counts()
            await _wait_exit(process, None)
            self._close_pipe()
            self._process = None
            if time.monotonic() - began > HEALTHY_S:
                pause = FIRST_RESTART_S
            code = process.exitcode
            metrics.handover_restarted()
            logger.error("alert hand-over process exited (code %s); starting it again in %.0f s", code, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_RESTART_S)

    def _spawn(self) -> BaseProcess:
        context = multiprocessing.get_context("spawn")  # never fork a process with Temporal's threads
        ours, theirs = context.Pipe()
        # It logs as this process does: through fireline's handler when one is installed here.
        logs = any(h.get_name() == "fireline" for h in logging.getLogger().handlers)
        process = context.Process(
            target=run_child, args=(self.spec, theirs, logs), name="fireline-handover", daemon=False
        )
        process.start()
        theirs.close()  # else the child would not see EOF when this process dies
        self._process, self._conn = process, ours
        return process

    def _watch_counts(self) -> None:
        """Apply what the child counts as it arrives."""
        conn = self._conn
        if conn is None:
            return
        loop = asyncio.get_running_loop()

        def readable() -> None:
            try:
                while conn.poll():
                    report: Report = conn.recv()
                    for item in report.counted:
                        apply_counted(item)
                    self.pending = report.pending
                    metrics.spool_pending(report.pending)
            except (EOFError, OSError):
                with contextlib.suppress(ValueError, OSError):
                    loop.remove_reader(conn.fileno())

        loop.add_reader(conn.fileno(), readable)

    def _close_pipe(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(conn.fileno())
        conn.close()


async def _wait_exit(process: BaseProcess, limit_s: float | None) -> None:
    """Until ``process`` has exited, or ``limit_s`` seconds passed (its sentinel becomes readable)."""
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()

    def exited() -> None:
        if not ended.done():
            ended.set_result(None)

    loop.add_reader(process.sentinel, exited)
    try:
        await asyncio.wait_for(ended, limit_s)
    except TimeoutError:
        return
    finally:
        loop.remove_reader(process.sentinel)
    # Readable once the child has closed its end, a moment before the kernel reports it exited.
    await asyncio.to_thread(process.join)


def run_child(spec: HandoverSpec, conn: Connection, logs: bool) -> None:
    """The child's entry point: hand over until the parent stops it or goes away."""
    if spec.nice > 0:
        with contextlib.suppress(OSError):
            os.nice(spec.nice)
    if logs:
        from engine.observability import configure_logging

        configure_logging(settings=spec.settings)
    try:
        code = asyncio.run(_serve_child(spec, conn))
    except Exception as exc:  # logged by type only: the message could carry alert data
        logger.error("alert hand-over process failed: %s", type(exc).__name__)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip finalizers: the SDK's native threads can crash a normal shutdown


async def _serve_child(spec: HandoverSpec, conn: Connection) -> int:
    from engine.ingest.config import ReceiverConfig
    from engine.ingest.core import build_ingest
    from engine.ingest.handover import Handover
    from engine.ingest.spool_reader import SpoolReader

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def parent_gone() -> None:  # the parent never writes: readable means its end closed
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(conn.fileno())
        stop.set()

    loop.add_reader(conn.fileno(), parent_gone)
    client = await spec.connect()
    catalog = spec.load_catalog()
    home = spec.settings.home.resolve()
    # Never a spool of its own here: the receiver appends, this process only follows.
    config = (spec.config or ReceiverConfig.from_env(home)).model_copy(update={"spool": False})
    ingest = build_ingest(spec.settings, client, catalog, elasticsearch_url=None, config=config, home=home)
    counts: list[Counted] = []
    ingest.count = lambda outcome, _refusal: counts.append(counted(outcome))
    reader = SpoolReader(home)
    handover = Handover(reader, ingest.dispatcher, ingest.record_handed)
    handover.start()
    told: int | None = None

    def send() -> None:
        nonlocal told
        pending = reader.count()
        if counts or pending != told:
            told = pending
            with contextlib.suppress(OSError, ValueError):
                conn.send(Report(list(counts), told))
            counts.clear()

    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), COUNT_EVERY_S)
            send()
    finally:
        await handover.stop(grace_s=BATCH_GRACE_S)
        send()
    return 0
