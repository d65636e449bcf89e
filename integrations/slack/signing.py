"""Slack request signatures: sign, verify (constant time, 5-minute window) and refuse replays.

Slack signs every interactivity request with ``v0=`` + HMAC-SHA256(signing secret,
``v0:{timestamp}:{raw body}``). A request is accepted once: the (timestamp, signature) pairs
seen inside the window are remembered, so a captured request cannot be played again.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from enum import StrEnum

VERSION = "v0"
#: How far a request's timestamp may be from our clock, either way.
WINDOW_S = 300
#: Remembered signatures are bounded; only correctly signed requests are ever stored.
MAX_REMEMBERED = 100_000


class Verdict(StrEnum):
    """The outcome of checking one request."""

    OK = "ok"
    MISSING = "missing"
    MALFORMED = "malformed"
    STALE = "stale"
    FORGED = "forged"
    REPLAYED = "replayed"


def sign(signing_secret: str, timestamp: str | int, body: bytes) -> str:
    """The ``X-Slack-Signature`` value Slack sends for ``body`` at ``timestamp``."""
    base = f"{VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


class RequestVerifier:
    """Checks signatures and remembers accepted ones until they leave the window.

    Thread safe: the HTTP route and Socket Mode listeners may share one verifier.
    """

    def __init__(
        self, signing_secret: str, *, clock: Callable[[], float] = time.time, window_s: int = WINDOW_S
    ) -> None:
        if not signing_secret:
            raise ValueError("the Slack signing secret is empty")
        self._secret = signing_secret
        self._clock = clock
        self._window_s = window_s
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RequestVerifier(window_s={self._window_s})"

    def verify(self, body: bytes, timestamp: str | None, signature: str | None) -> Verdict:
        """Check one request; an accepted request is remembered so its replay is refused."""
        if not timestamp or not signature:
            return Verdict.MISSING
        if not timestamp.isdigit() or len(timestamp) > 12 or not signature.startswith(f"{VERSION}="):
            return Verdict.MALFORMED
        now = self._clock()
        if abs(now - int(timestamp)) > self._window_s:
            return Verdict.STALE
        expected = sign(self._secret, timestamp, body)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return Verdict.FORGED
        key = (timestamp, signature)
        with self._lock:
            self._forget_old(now)
            if key in self._seen:
                return Verdict.REPLAYED
            if len(self._seen) >= MAX_REMEMBERED:
                self._seen.pop(next(iter(self._seen)))
            self._seen[key] = int(timestamp) + self._window_s
        return Verdict.OK

    def _forget_old(self, now: float) -> None:
        # Insertion order is roughly time order, so stop at the first entry still in the window.
        expired = []
        for key, until in self._seen.items():
            if until >= now:
                break
            expired.append(key)
        for key in expired:
            del self._seen[key]
