"""Small, pure statistics helpers: percentiles, summaries and ratios (unit-tested)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between ranks (numpy's default).

    Raises:
        ValueError: ``values`` is empty or ``q`` is outside 0-100.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0-100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def ratio(engine: float, baseline: float) -> float:
    """``engine / baseline`` rounded to 3 places; ``nan`` when the baseline is zero."""
    if baseline == 0:
        return math.nan
    return round(engine / baseline, 3)


def summarize_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p95, mean, min and max of durations given in seconds, as milliseconds (2 places)."""
    ms = [s * 1000 for s in seconds]
    return {
        "p50": round(percentile(ms, 50), 2),
        "p95": round(percentile(ms, 95), 2),
        "mean": round(sum(ms) / len(ms), 2),
        "min": round(min(ms), 2),
        "max": round(max(ms), 2),
        "n": len(ms),
    }


def per_second(count: int, seconds: float) -> float:
    """A rate, rounded to 1 place; 0 when no time passed."""
    return round(count / seconds, 1) if seconds > 0 else 0.0
