"""Read a run's audit trail from Elasticsearch, in chain order."""

from __future__ import annotations

from typing import Any

import elasticsearch
from pydantic import ValidationError

from integrations.elasticsearch.client import translated
from integrations.review.models import AuditRecord

PAGE = 1000
MAX_EVENTS = 50_000


def read_trail(es: elasticsearch.Elasticsearch, run_id: str, index: str) -> tuple[list[AuditRecord], int]:
    """Every stored event of ``run_id`` (up to :data:`MAX_EVENTS`) and how many were unreadable.

    Pages by sequence number with ``search_after``; documents whose event does not parse are
    counted, not fatal, so one damaged record cannot hide the rest of the review.
    """
    events: list[AuditRecord] = []
    unreadable = 0
    after: list[Any] | None = None
    with translated(f"refresh the audit trail of {run_id}"):
        # The engine writes the trail without waiting for a refresh; make the latest events visible.
        es.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)
    while len(events) < MAX_EVENTS:
        with translated(f"read the audit trail of {run_id}"):
            answer = es.search(
                index=index,
                query={"term": {"fireline.run.id": run_id}},
                sort=[{"fireline.audit.seq": "asc"}],
                size=PAGE,
                search_after=after,
                ignore_unavailable=True,
                allow_no_indices=True,
            )
        hits = answer["hits"]["hits"]
        for hit in hits:
            try:
                events.append(AuditRecord.model_validate(hit["_source"]["fireline"]["event"]))
            except (KeyError, TypeError, ValidationError):
                unreadable += 1
        if len(hits) < PAGE:
            break
        after = hits[-1]["sort"]
    return events, unreadable
