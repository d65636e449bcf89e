"""Store audit events in Elasticsearch (``fireline-audit-YYYY.MM``) as ECS documents, and read them back."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable
from typing import Any

from temporalio import activity

from engine.activities.es_client import engine_client
from engine.errors import FirelineError
from engine.plan.audit import AuditEvent
from engine.workflows.types import AUDIT_ACTIVITY

log = logging.getLogger("fireline.audit")
AUDIT_INDEX_PATTERN = "fireline-audit-*"
RESULTS_INDEX = "fireline-results"
#: Results have any shape; stored, never indexed, so no two results can clash in the mapping.
RESULTS_MAPPING: dict[str, Any] = {
    "properties": {"key": {"type": "keyword"}, "result": {"type": "object", "enabled": False}}
}
_KEYWORD = {"type": "keyword"}
#: Explicit mapping: ids must be keywords (exact match), and the chained event is stored as is.
AUDIT_MAPPING: dict[str, Any] = {
    "properties": {
        "@timestamp": {"type": "date"},
        "message": {"type": "text"},
        "event": {"properties": {k: _KEYWORD for k in ("kind", "category", "action", "module", "outcome")}},
        "user": {"properties": {"name": _KEYWORD}},
        "fireline": {
            "properties": {
                "run": {"properties": {"id": _KEYWORD}},
                "step": {"properties": {"path": _KEYWORD}},
                "playbook": {
                    "properties": {"name": _KEYWORD, "version": {"type": "integer"}, "sha256": _KEYWORD}
                },
                "audit": {"properties": {"seq": {"type": "long"}, "prev_hash": _KEYWORD, "hash": _KEYWORD}},
                "event": {"type": "object", "enabled": False},
            }
        },
    }
}


def audit_index(event: AuditEvent) -> str:
    """Monthly index of an event."""
    return f"fireline-audit-{event.at:%Y.%m}"


def doc_id(event: AuditEvent) -> str:
    """Stable id: re-delivering an event overwrites it with identical content.

    The hash is part of it because after a reset two branches hold events with the same seq: the
    replaced run's events must stay, not be overwritten by the re-run's.
    """
    return f"{event.run_id}:{event.seq:06d}:{event.hash[:16]}"


def to_ecs(event: AuditEvent) -> dict[str, Any]:
    """The event as an ECS document; the chain fields live under ``fireline.audit``."""
    doc: dict[str, Any] = {
        "@timestamp": event.at.isoformat().replace("+00:00", "Z"),
        "event": {"kind": "event", "category": ["process"], "action": event.action, "module": "fireline"},
        "message": f"{event.action} {event.step or ''}".strip(),
        "fireline": {
            "run": {"id": event.run_id},
            "playbook": {"name": event.playbook, "version": event.version, "sha256": event.sha256},
            "audit": {"seq": event.seq, "prev_hash": event.prev_hash, "hash": event.hash},
            "event": event.model_dump(mode="json"),
        },
    }
    if event.step:
        doc["fireline"]["step"] = {"path": event.step}
    if event.outcome:
        doc["event"]["outcome"] = event.outcome
    if event.actor:
        doc["user"] = {"name": event.actor}
    return doc


class AuditStore:
    """Writes and reads the audit indices of one cluster (``url`` None: nowhere to store)."""

    def __init__(self, url: str | None, *, ca_file: str | None = None) -> None:
        self.url = url
        self.ca_file = ca_file
        self._ready: set[str] = set()
        self._es: Any = None

    def _ensure_index(self, es: Any, name: str, mappings: dict[str, Any]) -> None:
        if name in self._ready:
            return
        if not es.indices.exists(index=name):
            try:
                es.indices.create(index=name, mappings=mappings)
            except Exception as exc:
                if "already_exists" not in str(exc) and "already exists" not in str(exc):
                    raise
        self._ready.add(name)

    def _client(self) -> Any:
        """One client per store, reused by every write (the client is thread-safe and pools connections)."""
        assert self.url is not None
        if self._es is None:
            self._es = engine_client(self.url, self.ca_file)
        return _Borrowed(self._es)

    def keep_result(self, key: str, data: Any) -> dict[str, str] | None:
        """Store a full action result too large for history; its reference, or None without a cluster."""
        if not self.url:
            return None
        doc_id = hashlib.sha256(key.encode()).hexdigest()[:32]
        with self._client() as es:
            self._ensure_index(es, RESULTS_INDEX, RESULTS_MAPPING)
            es.index(
                index=RESULTS_INDEX, id=doc_id, document={"key": key, "result": data}, refresh="wait_for"
            )
        return {"index": RESULTS_INDEX, "id": doc_id}

    def write(self, events: Iterable[AuditEvent], *, remove: Iterable[AuditEvent] = ()) -> bool:
        """Store ``events`` and delete ``remove`` (both idempotently); False when there is no cluster."""
        if not self.url:
            return False
        events = list(events)
        operations: list[dict[str, Any]] = []
        for event in events:
            operations.append({"index": {"_index": audit_index(event), "_id": doc_id(event)}})
            operations.append(to_ecs(event))
        for event in remove:
            operations.append({"delete": {"_index": audit_index(event), "_id": doc_id(event)}})
        if not operations:
            return True
        with self._client() as es:
            for name in {audit_index(e) for e in events}:
                self._ensure_index(es, name, AUDIT_MAPPING)
            # No refresh here: waiting for one would add up to a refresh interval to every step.
            answer = es.bulk(operations=operations)
        if answer.get("errors"):
            failed = [i for i in answer["items"] if i.get("index", {}).get("error")]
            # Deleting what is not there (404) is what an idempotent removal expects.
            failed += [i for i in answer["items"] if i.get("delete", {}).get("status", 200) not in (200, 404)]
            if failed:
                raise FirelineError(f"{len(failed)} audit event(s) were refused by Elasticsearch")
        return True

    def _hits(self, run_id: str, **search: Any) -> list[dict[str, Any]]:
        """The stored documents of ``run_id``, after a refresh (so recent writes count)."""
        with self._client() as es:
            es.indices.refresh(index=AUDIT_INDEX_PATTERN, ignore_unavailable=True, allow_no_indices=True)
            answer = es.search(
                index=AUDIT_INDEX_PATTERN,
                query={"term": {"fireline.run.id": run_id}},
                size=10_000,
                ignore_unavailable=True,
                allow_no_indices=True,
                **search,
            )
        hits: list[dict[str, Any]] = answer["hits"]["hits"]
        return hits

    def stored_seqs(self, run_id: str) -> set[int]:
        """The seqs of ``run_id`` with an event stored."""
        if not self.url:
            return set()
        hits = self._hits(run_id, source=["fireline.audit.seq"])
        return {int(hit["_source"]["fireline"]["audit"]["seq"]) for hit in hits}

    def read(self, run_id: str) -> list[AuditEvent]:
        """Every stored event of ``run_id``, in chain order."""
        if not self.url:
            raise FirelineError("no Elasticsearch is configured to read the audit trail from")
        hits = self._hits(run_id, sort=[{"fireline.audit.seq": "asc"}])
        return [AuditEvent.model_validate(hit["_source"]["fireline"]["event"]) for hit in hits]

    @activity.defn(name=AUDIT_ACTIVITY)
    async def store_audit(self, events: list[AuditEvent]) -> bool:
        """Store events that no action carried (the end of a run)."""
        return await asyncio.to_thread(self.write, events)


class _Borrowed:
    """Lends the shared client to a ``with`` block without closing it afterwards."""

    def __init__(self, es: Any) -> None:
        self.es = es

    def __enter__(self) -> Any:
        return self.es

    def __exit__(self, *exc: object) -> None:
        return None
