"""A durable local queue of accepted alerts: the receiver answers once an alert is on disk.

``$FIRELINE_HOME/spool/alerts.jsonl`` is an append-only journal. Each accepted alert is one
``{"n": 17, "via": ..., "alert": {...}}`` line, written and ``fsync``-ed before the receiver
answers 202; concurrent requests share one write and one ``fsync`` (group commit), so a storm
pays one disk flush per batch, not per alert. When an alert has been handed to Temporal a
``{"done": 17}`` line follows (not flushed: losing it only means the alert is handed over again
after a crash, which runs ignore). On start-up every alert without its ``done`` line is pending
again. The journal is rewritten with only the pending alerts once it grows past
:data:`COMPACT_BYTES`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.ingest.models import Via

DIR_NAME = "spool"
FILE_NAME = "alerts.jsonl"
COMPACT_BYTES = 16 * 1024 * 1024

logger = logging.getLogger("fireline.ingest")


@dataclass(frozen=True)
class Spooled:
    """One accepted alert waiting to be handed to Temporal."""

    n: int
    via: Via
    alert: dict[str, Any]


class AlertSpool:
    """The journal of one receiver (``home`` None keeps it in memory: tests and benches only)."""

    def __init__(self, home: Path | None, *, compact_bytes: int = COMPACT_BYTES) -> None:
        self.path = home / DIR_NAME / FILE_NAME if home is not None else None
        self.compact_bytes = compact_bytes
        self._pending: dict[int, Spooled] = {}
        self._next = 1
        self._buffer: list[tuple[Spooled, asyncio.Future[None]]] = []
        self._done: list[int] = []
        self._flusher: asyncio.Task[None] | None = None
        self._file_lock = threading.Lock()
        self.ready = asyncio.Event()  # set whenever something is pending
        self._fd: int | None = None
        self._size = 0
        if self.path is not None:
            self._open()

    # -- reading back after a restart ------------------------------------------------------------
    def _open(self) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        done: set[int] = set()
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        whole = data.rfind(b"\n") + 1
        if whole < len(data):
            _cut_torn_tail(self.path, whole)
        for line in data[:whole].split(b"\n")[:-1]:  # ends with the last whole line's newline
            try:
                record = json.loads(line)
            except ValueError:
                continue  # only a journal from before _cut_torn_tail can hold one
            if "done" in record:
                done.add(int(record["done"]))
            elif "n" in record:
                n = int(record["n"])
                self._pending[n] = Spooled(n, Via(record.get("via", Via.RECEIVER)), record["alert"])
                self._next = max(self._next, n + 1)
        for n in done:
            self._pending.pop(n, None)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size
        if self._pending:
            logger.info("alert spool: %d accepted alert(s) still to hand over", len(self._pending))
            self.ready.set()

    # -- accepting -------------------------------------------------------------------------------
    async def put(self, alert: dict[str, Any], *, via: Via = Via.RECEIVER) -> Spooled:
        """Append ``alert``; returns once it is on disk (``fsync``), together with its neighbours.

        Raises:
            OSError: the journal could not be written (nothing was acknowledged).
        """
        item = Spooled(self._next, via, alert)
        self._next += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop())
        await asyncio.shield(future)
        return item

    async def _flush_loop(self) -> None:
        while self._buffer or self._done:
            batch, self._buffer = self._buffer, []
            done, self._done = self._done, []
            lines = [_line({"n": i.n, "via": i.via.value, "alert": i.alert}) for i, _ in batch]
            lines += [_line({"done": n}) for n in done]
            try:
                await asyncio.to_thread(self._write, b"".join(lines), bool(batch))
            except OSError as exc:
                logger.error("alert spool %s cannot be written: %s", self.path, exc.strerror or exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for item, future in batch:
                self._pending[item.n] = item
                if not future.done():
                    future.set_result(None)
            if batch:
                self.ready.set()
            if self._size > self.compact_bytes:
                snapshot = sorted(self._pending.values(), key=lambda i: i.n)
                await asyncio.to_thread(self._compact, snapshot)

    def _write(self, data: bytes, durable: bool) -> None:
        if self._fd is None or not data:
            return
        with self._file_lock:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            if durable:
                os.fsync(self._fd)
            self._size += len(data)

    # -- handing over ----------------------------------------------------------------------------
    def pending(self, limit: int) -> list[Spooled]:
        """Up to ``limit`` alerts waiting, oldest first."""
        items = sorted(self._pending)[:limit]
        if not items:
            self.ready.clear()
        return [self._pending[n] for n in items]

    def count(self) -> int:
        """How many accepted alerts wait to be handed over."""
        return len(self._pending)

    def done(self, items: list[Spooled]) -> None:
        """Forget alerts that were handed to Temporal (a ``done`` line follows in the background)."""
        for item in items:
            self._pending.pop(item.n, None)
        if self._fd is None:
            return
        self._done.extend(i.n for i in items)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop())

    async def close(self) -> None:
        """Write the last ``done`` lines, compact when the journal is large, and close it."""
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
        if self._fd is None:
            return
        if self._size > self.compact_bytes or not self._pending:
            snapshot = sorted(self._pending.values(), key=lambda i: i.n)
            await asyncio.to_thread(self._compact, snapshot)
        with self._file_lock:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None

    def _compact(self, keep: list[Spooled]) -> None:
        """Rewrite the journal with only ``keep`` (atomically) and append to the new file."""
        assert self.path is not None
        tmp = self.path.with_suffix(".tmp")
        data = b"".join(_line({"n": i.n, "via": i.via.value, "alert": i.alert}) for i in keep)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        with self._file_lock:
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
            if self._fd is not None:
                os.close(self._fd)
            self._fd = fd
            self._size = len(data)


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")


def _cut_torn_tail(path: Path, whole: int) -> None:
    """Drop a last line that a crash cut short (everything after byte ``whole``).

    Its alert was never acknowledged (the write had not returned, let alone the ``fsync``). Left in
    place, the next alert's line would be appended to it and the two would read back as one line
    that parses as neither: an acknowledged alert lost at the following restart.
    """
    logger.warning("alert spool %s: dropped a torn last line (never acknowledged)", path)
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, whole)
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pending_count(home: Path) -> int:
    """Alerts in the spool under ``home`` not yet handed over, read from the journal (any process).

    Lines as :func:`_line` writes them are read by their prefix, without parsing the alert: a
    poller (the bench waits for an empty spool this way) must not steal the CPU the hand-over needs.
    """
    waiting: set[int] = set()
    done: set[int] = set()
    try:
        lines = (home / DIR_NAME / FILE_NAME).read_bytes().split(b"\n")
    except FileNotFoundError:
        return 0
    for line in lines[:-1]:  # the last piece is empty, or a line still being written
        mark = _journal_mark(line)
        if mark is not None:
            (done if mark[0] == "done" else waiting).add(mark[1])
    return len(waiting - done)


#: How :func:`_line` starts each kind of line, and the byte that ends its number.
_PREFIXES = ((b'{"done":', b"}", "done"), (b'{"n":', b",", "n"))


def _journal_mark(line: bytes) -> tuple[str, int] | None:
    """``("done", n)`` or ``("n", n)`` for a journal line; None for a line that is neither."""
    for prefix, end, kind in _PREFIXES:
        if line.startswith(prefix) and line.endswith(b"}"):
            head = line[len(prefix) : line.find(end, len(prefix))]
            if head.isdigit():
                return kind, int(head)
    try:  # a line in another layout (an earlier version's spacing): parse it whole
        record = json.loads(line)
    except ValueError:
        return None
    for kind in ("done", "n"):
        number = record.get(kind) if isinstance(record, dict) else None
        if isinstance(number, int):
            return kind, number
    return None
