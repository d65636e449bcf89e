"""The receiver's side of the alert spool: an alert is acknowledged once it is on disk.

Accepted alerts are appended to the newest segment (see :mod:`engine.ingest.spool_files`) and
``fsync``-ed before the receiver answers 202; concurrent requests share one write and one
``fsync`` (group commit), so a storm pays one disk flush per batch, not per alert. Past
:data:`SEGMENT_BYTES` the next batch opens a new segment. Handing the alerts to Temporal is the
:class:`~engine.ingest.spool_reader.SpoolReader`'s job, usually in a process of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.ingest.errors import SpoolUnavailable
from engine.ingest.models import Via
from engine.ingest.spool_files import (
    WRITER_LOCK,
    fsync_dir,
    journal_mark,
    line,
    segment_path,
    segments,
    spool_dir,
    try_lock,
    unlock,
    whole_lines,
)

SEGMENT_BYTES = 4 * 1024 * 1024

logger = logging.getLogger("fireline.ingest")


@dataclass(frozen=True)
class Spooled:
    """One accepted alert waiting to be handed to Temporal."""

    n: int
    via: Via
    alert: dict[str, Any]


class SpoolWriter:
    """Appends accepted alerts to the spool under ``home`` (one writer per spool).

    Raises:
        SpoolUnavailable: another receiver appends to this spool, or it cannot be opened.
    """

    def __init__(
        self,
        home: Path,
        *,
        segment_bytes: int = SEGMENT_BYTES,
        on_written: Callable[[], None] | None = None,
    ) -> None:
        self.folder = spool_dir(home)
        self.segment_bytes = segment_bytes
        self.on_written = on_written
        self._buffer: list[tuple[Spooled, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._file_lock = threading.Lock()
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._lock: int | None = try_lock(self.folder / WRITER_LOCK)
            if self._lock is None:
                raise SpoolUnavailable(f"another receiver is appending to the alert spool {self.folder}")
            self._next, fd, self._size = _open_newest(self.folder)
            self._fd: int | None = fd
        except OSError as exc:
            reason = exc.strerror or exc
            raise SpoolUnavailable(f"the alert spool {self.folder} cannot be opened: {reason}") from None

    async def put(self, alert: dict[str, Any], *, via: Via = Via.RECEIVER) -> Spooled:
        """Append ``alert``; returns once it is on disk (``fsync``), together with its neighbours.

        Raises:
            OSError: the spool could not be written (nothing was acknowledged).
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
        while self._buffer:
            batch, self._buffer = self._buffer, []
            data = b"".join(line({"n": i.n, "via": i.via.value, "alert": i.alert}) for i, _ in batch)
            try:
                await asyncio.to_thread(self._write, data, batch[0][0].n)
            except OSError as exc:
                logger.error("alert spool %s cannot be written: %s", self.folder, exc.strerror or exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)
            if self.on_written is not None:
                self.on_written()

    def _write(self, data: bytes, first: int) -> None:
        with self._file_lock:
            if self._fd is None:
                raise OSError("the alert spool is closed")
            if self._size > self.segment_bytes:
                # Named by its first alert, so every alert in a segment is below the next one's name.
                fd = os.open(segment_path(self.folder, first), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                fsync_dir(self.folder)
                os.close(self._fd)
                self._fd, self._size = fd, 0
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
                os.fsync(self._fd)
            except OSError:
                # Nothing of a failed batch is acknowledged: take back what reached the file, so
                # the hand-over never starts those alerts and the next batch starts on a new line.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._size)
                raise
            self._size += len(data)

    async def close(self) -> None:
        """Finish the writes in flight and close the spool (releasing it for the next receiver)."""
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
        with self._file_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            unlock(self._lock)
            self._lock = None


def _open_newest(folder: Path) -> tuple[int, int, int]:
    """The next alert number, and the newest segment opened for appending (fd, size).

    A torn last line (a write a crash cut short, never acknowledged) is cut off first: appended to,
    it would swallow the next alert's line. Alerts that reach Temporal are numbered on from the
    highest number in any segment, so a ``done`` line never names a later alert.
    """
    found = segments(folder)
    next_number = max((first for first, _ in found), default=1) or 1
    newest = b""  # the newest segment's bytes, read once (it is never deleted under us)
    for _, path in reversed(found):
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # a sealed segment the hand-over has just deleted
            continue
        if path == found[-1][1]:
            newest = data
        numbers = [m[1] for m in map(journal_mark, whole_lines(data)[0]) if m and m[0] == "n"]
        if numbers:
            next_number = max(next_number, max(numbers) + 1)
            break
    if not found or found[-1][0] == 0:  # nothing yet, or only an earlier version's journal
        path = segment_path(folder, next_number)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fsync_dir(folder)
        return next_number, fd, 0
    path = found[-1][1]
    _, whole = whole_lines(newest)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    size = os.fstat(fd).st_size
    if whole < size:
        logger.warning("alert spool %s: dropped a torn last line (never acknowledged)", path)
        os.ftruncate(fd, whole)
        os.fsync(fd)
        size = whole
    return next_number, fd, size
