"""Request authentication: HMAC signatures with replay protection, or per-source bearer tokens.

``X-Fireline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``; several
``v1=`` entries are allowed (secret rotation). A signature is good for ``replay_window_s``
around ``t`` and only once: a request that was refused for another reason (413, 503, ...) frees it
again, so a sender may retry the very same request.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from enum import StrEnum

from engine.alerts.model import AlertSource
from engine.ingest.config import ReceiverConfig
from engine.ingest.errors import AuthFailed

SIGNATURE_HEADER = "X-Fireline-Signature"
MAX_HEADER_CHARS = 2048
MAX_REMEMBERED = 200_000


class AuthMethod(StrEnum):
    """How a request proved who sent it."""

    SIGNATURE = "signature"
    BEARER = "bearer"


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """A complete ``X-Fireline-Signature`` header value for ``body``."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return f"t={stamp},v1={signature(secret, body, stamp)}"


def parse_signature(value: str) -> tuple[int, list[str]]:
    """``(t, [v1, ...])`` from a header value.

    Raises:
        AuthFailed: the header is malformed.
    """
    if len(value) > MAX_HEADER_CHARS:
        raise AuthFailed("signature header too long")
    stamp: int | None = None
    digests: list[str] = []
    for part in value.split(","):
        key, sep, item = part.strip().partition("=")
        if not sep:
            raise AuthFailed("signature header must look like t=<unix seconds>,v1=<hex>")
        if key == "t":
            if not item.isascii() or not item.isdigit() or len(item) > 12:
                raise AuthFailed("signature timestamp t must be unix seconds")
            stamp = int(item)
        elif key == "v1":
            digests.append(item.lower())
    if stamp is None or not digests:
        raise AuthFailed("signature header needs both t= and v1=")
    return stamp, digests


class ReplayGuard:
    """Remembers signatures seen within the window; thread-safe, bounded."""

    def __init__(self, window_s: float, capacity: int = MAX_REMEMBERED) -> None:
        self.window_s = window_s
        self.capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, digest: str, now: float) -> bool:
        """Record ``digest``; False when it was already used inside the window."""
        with self._lock:
            self._purge(now)
            if digest in self._seen:
                return False
            if len(self._seen) >= self.capacity:
                self._seen.popitem(last=False)
            self._seen[digest] = now
            return True

    def release(self, digest: str) -> None:
        """Forget ``digest`` (its request was not processed, so a retry is no replay)."""
        with self._lock:
            self._seen.pop(digest, None)

    def _purge(self, now: float) -> None:
        # Entries are kept twice the window: a timestamp may lie up to one window in the future.
        horizon = now - 2 * self.window_s
        while self._seen:
            digest, seen_at = next(iter(self._seen.items()))
            if seen_at >= horizon:
                break
            self._seen.pop(digest)


class Authenticator:
    """Checks one request for one source; returns a claim to release if it is not processed."""

    def __init__(self, config: ReceiverConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.guard = ReplayGuard(config.replay_window_s)

    def check(
        self, source: AlertSource, headers: Mapping[str, str], body: bytes
    ) -> tuple[AuthMethod, str | None]:
        """The method that succeeded and the claimed signature (None for tokens).

        Raises:
            AuthFailed: with the reason (never the expected value).
        """
        if not self.config.has_credentials:
            raise AuthFailed("the receiver has no credentials configured (set FIRELINE_WEBHOOK_SECRET)")
        header = headers.get(SIGNATURE_HEADER.lower()) or headers.get(SIGNATURE_HEADER)
        if header is not None:
            return AuthMethod.SIGNATURE, self._check_signature(header, body)
        authorization = headers.get("authorization")
        if authorization is not None:
            self._check_bearer(source, authorization)
            return AuthMethod.BEARER, None
        raise AuthFailed(f"missing {SIGNATURE_HEADER} or Authorization: Bearer header")

    def release(self, claim: str | None) -> None:
        """Free a claimed signature after a refusal, so the sender may retry the same request."""
        if claim is not None:
            self.guard.release(claim)

    def _check_signature(self, header: str, body: bytes) -> str:
        secret = self.config.webhook_secret
        if secret is None:
            raise AuthFailed("signatures are not accepted: FIRELINE_WEBHOOK_SECRET is not set")
        stamp, digests = parse_signature(header)
        now = self.clock()
        if abs(now - stamp) > self.config.replay_window_s:
            raise AuthFailed(
                f"signature timestamp is outside the {int(self.config.replay_window_s)} s window"
            )
        expected = signature(secret.get_secret_value(), body, stamp).encode()
        # Compare against every candidate so timing does not tell which one matched.
        matched = [d for d in digests if hmac.compare_digest(expected, d.encode("utf-8", "replace"))]
        if not matched:
            raise AuthFailed("signature does not match the body")
        if not self.guard.claim(matched[0], now):
            raise AuthFailed("signature was already used (replay)")
        return matched[0]

    def _check_bearer(self, source: AlertSource, authorization: str) -> None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthFailed("Authorization must be 'Bearer <token>'")
        configured = self.config.tokens.get(source)
        if configured is None:
            raise AuthFailed(f"bearer tokens are not accepted for source {source.value}")
        given = token.strip().encode("utf-8", "replace")[:MAX_HEADER_CHARS]
        if not hmac.compare_digest(configured.get_secret_value().encode(), given):
            raise AuthFailed("bearer token is not valid for this source")
