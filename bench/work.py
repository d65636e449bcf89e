"""The trivial in-process work both sides do, so the outside world does not dominate the timings.

Each function is a stand-in for a real system call (a SIEM search, a key lookup, a deny-list
change, a chat post) that returns data of a realistic shape and size, without I/O.
"""

from __future__ import annotations

import hashlib
from typing import Any

HITS = 20
KEYS = 4


def search(index: str, model: str, size: int = HITS) -> dict[str, Any]:
    """A SIEM-search-like result: ``size`` gateway log hits (about 4 KB)."""
    hits = [
        {
            "@timestamp": f"2026-11-20T08:{i % 60:02d}:03Z",
            "message": f"prompt rejected by guardrail on {model}: pattern {i % 7}",
            "ml": {"model": {"name": model}, "guardrail": {"score": round(0.5 + (i % 5) / 10, 2)}},
            "user": {"api_key": {"id": f"key-{i % KEYS:04d}"}, "name": f"svc-{i % KEYS}"},
            "source": {"ip": f"10.0.{i % 4}.{i}"},
            "index": index,
        }
        for i in range(size)
    ]
    return {"total": size, "hits": hits}


def enrich(keys: list[str]) -> dict[str, Any]:
    """A key-owner lookup."""
    owners = {key: f"team-{int(hashlib.sha256(key.encode()).hexdigest()[:4], 16) % 5}" for key in keys}
    return {"keys": keys, "owners": owners}


def score(total: int, owners: dict[str, str]) -> dict[str, Any]:
    """A risk score from the evidence."""
    return {"score": min(100, total * 3 + len(owners) * 5), "teams": sorted(set(owners.values()))}


def contain(keys: list[str], reason: str) -> dict[str, Any]:
    """A deny-list change."""
    return {"blocked": list(keys), "reason": reason}


def post(channel: str, text: str) -> dict[str, Any]:
    """A chat post."""
    return {"ok": True, "channel": channel, "ts": "1763626443.000100", "text": text}


def unique_keys(hits: list[dict[str, Any]]) -> list[str]:
    """The distinct API key ids in search hits, in first-seen order."""
    return list(dict.fromkeys(hit["user"]["api_key"]["id"] for hit in hits))
