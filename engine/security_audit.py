"""Security events outside any run (refused requests, failed logins) on their own hash chain."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.activities.audit import AuditStore
from engine.plan.audit import AuditChain

log = logging.getLogger("fireline.security")


class SecurityAudit:
    """Appends each event to a chain named after this process's start, stored in ES or a JSONL file."""

    def __init__(self, store: AuditStore | None, home: Path, *, component: str = "receiver") -> None:
        started = datetime.now(UTC)
        self.chain = AuditChain(f"security:{component}:{started:%Y%m%dT%H%M%S.%fZ}", "-", 0, "-")
        self.store = store
        self.path = home / "audit" / f"{self.chain.run_id.replace(':', '_')}.jsonl"
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        """Record one security event (the callback receivers and the console are given)."""
        kind = str(event.get("kind", "security.event"))[:100]
        detail = {k: str(v)[:500] for k, v in event.items() if k not in ("kind", "outcome")}
        with self._lock:
            outcome = str(event.get("outcome", "refused"))[:20]
            record = self.chain.append(datetime.now(UTC), kind, outcome=outcome, detail=detail)
            pending = list(self.chain.pending)
            try:
                stored = self.store.write(pending) if self.store is not None else False
            except Exception as exc:  # the file below still keeps it
                log.warning("security audit not stored in Elasticsearch: %s", type(exc).__name__)
                stored = False
            if stored:
                self.chain.stored(pending)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record.model_dump(mode="json")) + "\n")
        log.info("security event %s", kind)
