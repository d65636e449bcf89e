"""The hand-over's side of the alert spool: follow what the receiver appends, record what is done.

:class:`SpoolReader` tails the segments (see :mod:`engine.ingest.spool_files`) from any process,
keeps the alerts not yet handed over in memory, appends a ``done`` line for each one handed over,
and deletes a sealed segment once all of its alerts are done. One reader per spool: a second one
waits for the first one's lock, so a hand-over restarted while the old one still finishes its batch
never hands an alert over twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.ingest.models import Via
from engine.ingest.spool import Spooled
from engine.ingest.spool_files import (
    HANDED_FILE,
    READER_LOCK,
    fsync_dir,
    journal_mark,
    line,
    segments,
    spool_dir,
    try_lock,
    unlock,
    whole_lines,
)

logger = logging.getLogger("fireline.ingest")
#: How often the files are looked at while alerts arrive, and after a quiet second.
BUSY_POLL_S = 0.01
IDLE_POLL_S = 0.1
QUIET_S = 1.0
LOCK_POLL_S = 0.1


@dataclass
class _Segment:
    first: int
    path: Path
    fd: int
    offset: int = 0
    sealed: bool = False
    waiting: set[int] = field(default_factory=set)


class SpoolReader:
    """Follows the spool under ``home``; :meth:`open` first, then :meth:`pending` and :meth:`done`."""

    def __init__(self, home: Path) -> None:
        self.folder = spool_dir(home)
        self.ready = asyncio.Event()  # set whenever something is pending
        self._pending: dict[int, tuple[Spooled, _Segment]] = {}
        self._segments: dict[Path, _Segment] = {}
        self._handed: set[int] = set()
        self._handed_fd: int | None = None
        self._lock: int | None = None
        self._wake = asyncio.Event()
        self._tail: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Take the spool over (waiting for a previous hand-over to let go) and start following it."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = try_lock(self.folder / READER_LOCK)
        if self._lock is None:
            logger.info("alert spool %s: waiting for the previous hand-over to finish", self.folder)
        while self._lock is None:  # polled, not a blocking flock: stopping must not wait on it
            await asyncio.sleep(LOCK_POLL_S)
            self._lock = try_lock(self.folder / READER_LOCK)
        handed = self.folder / HANDED_FILE
        with contextlib.suppress(FileNotFoundError):
            for raw in whole_lines(handed.read_bytes())[0]:
                mark = journal_mark(raw)
                if mark is not None and mark[0] == "done":
                    self._handed.add(mark[1])
        self._handed_fd = os.open(handed, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.scan()
        if self._pending:
            logger.info("alert spool: %d accepted alert(s) still to hand over", len(self._pending))
        self._tail = asyncio.create_task(self._follow(), name="fireline-spool-tail")

    def nudge(self) -> None:
        """Look at the files now (the receiver in this process has just written)."""
        self._wake.set()

    async def _follow(self) -> None:
        last_news = time.monotonic()
        while True:
            self._wake.clear()
            if self.scan():
                last_news = time.monotonic()
            quiet = time.monotonic() - last_news > QUIET_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), IDLE_POLL_S if quiet else BUSY_POLL_S)

    def scan(self) -> bool:
        """Read what was appended since the last look; True when an alert came in."""
        listed = segments(self.folder)
        news = False
        for index, (first, path) in enumerate(listed):
            segment = self._segments.get(path)
            if segment is None:
                try:
                    fd = os.open(path, os.O_RDONLY)
                except FileNotFoundError:
                    continue
                segment = self._segments[path] = _Segment(first, path, fd)
            if segment.sealed:
                continue
            # Listed before reading: when a newer segment is listed, this one was complete already.
            sealed = index < len(listed) - 1
            news |= self._read(segment, sealed)
        if news:
            self.ready.set()
        return news

    def _read(self, segment: _Segment, sealed: bool) -> bool:
        size = os.fstat(segment.fd).st_size
        if size <= segment.offset and not sealed:
            return False
        data = os.pread(segment.fd, max(size - segment.offset, 0), segment.offset)
        lines, whole = whole_lines(data)
        segment.offset += whole
        news = False
        for raw in lines:
            news |= self._take(raw, segment)
        if sealed:
            if whole < len(data):
                logger.warning("alert spool %s: skipped a torn last line (never acknowledged)", segment.path)
            segment.sealed = True
            self._forget_done_segments()
        return news

    def _take(self, raw: bytes, segment: _Segment) -> bool:
        try:
            record = json.loads(raw)
            if "done" in record:  # only an earlier version's journal holds both kinds of line
                n = int(record["done"])
                self._handed.add(n)
                if n in self._pending:
                    self._pending.pop(n)[1].waiting.discard(n)
                return False
            n = int(record["n"])
            item = Spooled(n, Via(record.get("via", Via.RECEIVER)), dict(record["alert"]))
        except (ValueError, KeyError, TypeError):
            # Whole lines are written in one fsync-ed write; only a damaged disk makes one unreadable.
            logger.error("alert spool %s: skipped an unreadable line", segment.path)
            return False
        if n in self._handed or n in self._pending:
            return False
        self._pending[n] = (item, segment)
        segment.waiting.add(n)
        return True

    def pending(self, limit: int) -> list[Spooled]:
        """Up to ``limit`` alerts waiting, oldest first."""
        numbers = sorted(self._pending)[:limit]
        if not numbers:
            self.ready.clear()
        return [self._pending[n][0] for n in numbers]

    def count(self) -> int:
        """How many accepted alerts wait to be handed over."""
        return len(self._pending)

    def done(self, items: list[Spooled]) -> None:
        """Record alerts handed to Temporal; a sealed segment whose alerts are all done goes."""
        finished = [item.n for item in items if item.n in self._pending]
        for n in finished:
            self._pending.pop(n)[1].waiting.discard(n)
        self._handed.update(finished)
        if self._handed_fd is not None and finished:
            try:
                os.write(self._handed_fd, b"".join(line({"done": n}) for n in finished))
            except OSError as exc:  # only means these are handed over again after a restart
                reason = exc.strerror or exc
                logger.warning("alert spool %s: cannot record handed alerts: %s", self.folder, reason)
        self._forget_done_segments()

    def _forget_done_segments(self) -> None:
        """Delete sealed segments with nothing waiting, then the ``done`` lines only they needed."""
        gone = [s for s in self._segments.values() if s.sealed and not s.waiting]
        if not gone:
            return
        for segment in gone:
            os.close(segment.fd)
            del self._segments[segment.path]
            with contextlib.suppress(FileNotFoundError):
                segment.path.unlink()
        # Deleted for good before their done lines go: else a crash could bring back alerts
        # whose done lines were already dropped, and they would be handed over again.
        fsync_dir(self.folder)
        floor = min((s.first for s in self._segments.values()), default=None)
        if floor is None:
            return
        self._handed = {n for n in self._handed if n >= floor}
        self._rewrite_handed()

    def _rewrite_handed(self) -> None:
        path = self.folder / HANDED_FILE
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        try:
            os.write(fd, b"".join(line({"done": n}) for n in sorted(self._handed)))
            os.fsync(fd)
            os.replace(tmp, path)
        except BaseException:
            os.close(fd)
            raise
        if self._handed_fd is not None:
            os.close(self._handed_fd)
        self._handed_fd = fd

    async def close(self) -> None:
        """Stop following the spool and let the next hand-over take it."""
        if self._tail is not None:
            self._tail.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tail
            self._tail = None
        for segment in self._segments.values():
            os.close(segment.fd)
        self._segments.clear()
        if self._handed_fd is not None:
            os.close(self._handed_fd)
            self._handed_fd = None
        unlock(self._lock)
        self._lock = None
