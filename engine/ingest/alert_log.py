"""The recent-alert log behind ``fireline alerts``: in memory, and JSON lines on disk.

``$FIRELINE_HOME/alerts.jsonl`` is rotated to ``alerts.jsonl.1`` past :data:`MAX_FILE_BYTES`, so the
log stays bounded however many alerts (or hostile requests) arrive.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import deque
from pathlib import Path

from pydantic import ValidationError

from engine.ingest.models import AlertLogEntry

LOG_FILE = "alerts.jsonl"
MAX_FILE_BYTES = 8 * 1024 * 1024
_TAIL_BLOCK = 64 * 1024

logger = logging.getLogger("fireline.ingest")


def log_path(home: Path) -> Path:
    """Where the alert log of the stack under ``home`` lives."""
    return home / LOG_FILE


class AlertLog:
    """Keeps the last ``capacity`` entries in memory and appends each one to the file."""

    def __init__(
        self, home: Path | None, *, capacity: int = 1000, max_file_bytes: int = MAX_FILE_BYTES
    ) -> None:
        self.path = log_path(home) if home is not None else None
        self.max_file_bytes = max_file_bytes
        self._recent: deque[AlertLogEntry] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def record(self, entry: AlertLogEntry) -> None:
        """Remember ``entry``; a disk problem is logged, never raised (the alert was handled)."""
        line = entry.model_dump_json() + "\n"
        with self._lock:
            self._recent.append(entry)
            if self.path is None:
                return
            try:
                self._append(line.encode("utf-8"))
            except OSError as exc:
                logger.warning("cannot write the alert log %s: %s", self.path, exc.strerror or exc)

    def recent(self, limit: int = 50) -> list[AlertLogEntry]:
        """The newest ``limit`` entries this process recorded, newest first."""
        with self._lock:
            items = list(self._recent)
        return items[::-1][:limit]

    def _append(self, data: bytes) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if self.path.stat().st_size + len(data) > self.max_file_bytes:
                os.replace(self.path, self.path.with_name(LOG_FILE + ".1"))
        # One write per line with O_APPEND: lines from several processes never interleave.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def _tail_lines(path: Path, limit: int) -> list[bytes]:
    """The last ``limit`` complete lines of ``path``, oldest first."""
    try:
        handle = path.open("rb")
    except OSError:
        return []
    with handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        data = b""
        while end > 0 and data.count(b"\n") <= limit:
            start = max(0, end - _TAIL_BLOCK)
            handle.seek(start)
            data = handle.read(end - start) + data
            end = start
    lines = data.split(b"\n")
    if end > 0:
        lines = lines[1:]  # the first piece may be a partial line
    return [line for line in lines if line.strip()][-limit:]


def recent_alerts(home: Path, limit: int = 50) -> list[AlertLogEntry]:
    """The newest ``limit`` alerts recorded under ``home`` (newest first), for ``fireline alerts``.

    Lines that cannot be read (a torn write, a foreign file) are skipped.
    """
    if limit <= 0:
        return []
    path = log_path(home)
    lines = _tail_lines(path, limit)
    if len(lines) < limit:
        lines = _tail_lines(path.with_name(LOG_FILE + ".1"), limit - len(lines)) + lines
    out: list[AlertLogEntry] = []
    for line in reversed(lines):
        with contextlib.suppress(ValidationError, ValueError):
            out.append(AlertLogEntry.model_validate_json(line))
    return out
