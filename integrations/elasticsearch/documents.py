"""Write incident and evidence documents so that a retried step never writes twice."""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import elasticsearch

from integrations.elasticsearch.client import translated
from integrations.elasticsearch.models import IndexParams, IndexResult

_log = logging.getLogger(__name__)


def derived_id(idempotency_key: str, index: str) -> str:
    """The document id for a step's write: the same for every attempt of that step."""
    return "fl-" + hashlib.sha256(f"{idempotency_key}\0{index}".encode()).hexdigest()[:40]


def utc_now_iso() -> str:
    """Now, in UTC, as Elasticsearch's default date format expects it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def index_document(
    es: elasticsearch.Elasticsearch, params: IndexParams, *, idempotency_key: str
) -> IndexResult:
    """Write ``params.document``.

    Without an explicit id the document is created under an id derived from the idempotency key;
    if an earlier attempt already created it, the result is ``noop`` and nothing is written. With
    an explicit id the document is written (created or replaced) under that id.
    """
    document: dict[str, Any] = dict(params.document)
    if params.add_timestamp and "@timestamp" not in document:
        document["@timestamp"] = utc_now_iso()
    operation = f"index into {params.index}"
    if params.id is not None:
        with translated(operation):
            response = es.index(
                index=params.index, id=params.id, document=document, refresh=params.refresh.value
            )
        return IndexResult(id=response["_id"], index=response["_index"], result=response["result"])
    if idempotency_key:
        doc_id = derived_id(idempotency_key, params.index)
    else:
        _log.warning("no idempotency key for a write into %s: a retry may write twice", params.index)
        doc_id = "fl-" + uuid.uuid4().hex
    with translated(operation):
        try:
            response = es.index(
                index=params.index,
                id=doc_id,
                document=document,
                op_type="create",
                refresh=params.refresh.value,
            )
        except elasticsearch.ConflictError:
            # An earlier attempt of this step got through: the document is already there.
            return IndexResult(id=doc_id, index=params.index, result="noop")
    return IndexResult(id=response["_id"], index=response["_index"], result=response["result"])
