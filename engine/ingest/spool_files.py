"""The alert spool's files, shared by the receiver (which appends) and the hand-over (which drains).

``$FIRELINE_HOME/spool/`` holds:

- ``segment-<first number>.jsonl``: accepted alerts, one ``{"n": 17, "via": ..., "alert": {...}}``
  line each, written and ``fsync``-ed by the receiver before it answers 202. Only the receiver
  writes them, and only the newest one: once a newer segment exists, an older one is *sealed* and
  never written again, so a cut-short last line in it is a write a crash interrupted (never
  acknowledged).
- ``handed.jsonl``: ``{"done": 17}`` lines, appended by the hand-over once an alert is in Temporal
  (not flushed: losing one only means that alert is handed over again after a crash).
- ``alerts.jsonl``: the single journal of earlier versions (both kinds of line); read as a sealed
  segment before all others until everything in it is handed over.

Each file has one writer, so the two processes never need to agree on anything but these names:
the hand-over deletes a sealed segment once all of its alerts are handed over, and only then drops
their ``done`` lines.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from pathlib import Path
from typing import Any

DIR_NAME = "spool"
HANDED_FILE = "handed.jsonl"
LEGACY_FILE = "alerts.jsonl"
#: Held by the receiver that appends (one per spool) and by the hand-over that drains (one per spool).
WRITER_LOCK = "receiver.lock"
READER_LOCK = "handover.lock"
_SEGMENT = re.compile(r"^segment-(\d{12})\.jsonl$")


def spool_dir(home: Path) -> Path:
    """The spool folder of the stack under ``home``."""
    return home / DIR_NAME


def segment_path(folder: Path, first: int) -> Path:
    """The segment whose first alert is number ``first``."""
    return folder / f"segment-{first:012d}.jsonl"


def segments(folder: Path) -> list[tuple[int, Path]]:
    """Every segment in ``folder``, oldest first; an earlier version's journal comes first (as 0)."""
    found: list[tuple[int, Path]] = []
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    for name in names:
        match = _SEGMENT.match(name)
        if match:
            found.append((int(match.group(1)), folder / name))
        elif name == LEGACY_FILE:
            found.append((0, folder / name))
    return sorted(found)


def line(record: dict[str, Any]) -> bytes:
    """One journal line, compact (so :func:`journal_mark` can read its number without parsing)."""
    return (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")


def whole_lines(data: bytes) -> tuple[list[bytes], int]:
    """The complete lines in ``data`` and how many bytes they take (a partial last line is left)."""
    whole = data.rfind(b"\n") + 1
    return data[:whole].split(b"\n")[:-1], whole


#: How :func:`line` starts each kind of line, and the byte that ends its number.
_PREFIXES = ((b'{"done":', b"}", "done"), (b'{"n":', b",", "n"))


def journal_mark(raw: bytes) -> tuple[str, int] | None:
    """``("done", n)`` or ``("n", n)`` for a journal line; None for a line that is neither."""
    for prefix, end, kind in _PREFIXES:
        if raw.startswith(prefix) and raw.endswith(b"}"):
            head = raw[len(prefix) : raw.find(end, len(prefix))]
            if head.isdigit():
                return kind, int(head)
    try:  # a line in another layout (an earlier version's spacing): parse it whole
        record = json.loads(raw)
    except ValueError:
        return None
    for kind in ("done", "n"):
        number = record.get(kind) if isinstance(record, dict) else None
        if isinstance(number, int):
            return kind, number
    return None


def pending_count(home: Path) -> int:
    """Alerts in the spool under ``home`` not yet handed over, read from its files (any process).

    Lines are read by their prefix, without parsing the alert: a poller (the bench waits for an
    empty spool this way) must not steal the CPU the hand-over needs.
    """
    waiting: set[int] = set()
    done: set[int] = set()
    folder = spool_dir(home)
    for path in [p for _, p in segments(folder)] + [folder / HANDED_FILE]:
        try:
            lines, _ = whole_lines(path.read_bytes())
        except FileNotFoundError:
            continue  # the hand-over deleted it meanwhile: everything in it was handed over
        for raw in lines:
            mark = journal_mark(raw)
            if mark is not None:
                (done if mark[0] == "done" else waiting).add(mark[1])
    return len(waiting - done)


def fsync_dir(folder: Path) -> None:
    """Make a file created, renamed or deleted in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def try_lock(path: Path) -> int | None:
    """An exclusive ``flock`` on ``path`` (its fd), held until closed or the process dies.

    Returns None when another process holds it.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def unlock(fd: int | None) -> None:
    """Release a lock from :func:`try_lock`."""
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
