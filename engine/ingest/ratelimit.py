"""Per-source token buckets: a sender over its rate gets 429 with ``Retry-After``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """``rate_per_s`` requests per second per key, with bursts up to ``burst``."""

    def __init__(self, rate_per_s: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float | None:
        """Take one token; None when allowed, else the seconds to wait before retrying."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
