"""Elasticsearch access for ingestion: complete Kibana id-only payloads, find open alerts.

The official (synchronous) client runs in a thread so the receiver's event loop never blocks.
Alerts are found by search, not ``GET``: the index may be a pattern or an alias.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import elastic_transport
import elasticsearch
from elastic_transport.client_utils import DEFAULT

from engine.alerts.result import AlertRefs
from engine.ingest.errors import ElasticsearchUnavailable
from engine.settings import Settings

UUID_FIELD = "kibana.alert.uuid"
STATUS_FIELD = "kibana.alert.workflow_status"
OPEN_ALERTS_PATTERN = ".alerts-security.alerts-*"


def build_es_client(
    url: str, *, api_key: str | None = None, ca_file: Path | None = None, timeout_s: float = 10.0
) -> elasticsearch.Elasticsearch:
    """A client that fails fast (the caller decides about retries)."""
    return elasticsearch.Elasticsearch(
        url,
        api_key=api_key,
        ca_certs=str(ca_file) if ca_file else DEFAULT,
        request_timeout=timeout_s,
        max_retries=0,
        retry_on_timeout=False,
    )


def es_client_for(settings: Settings, url: str) -> elasticsearch.Elasticsearch:
    """The client for ``url`` with the configured API key and CA file."""
    es = settings.elasticsearch
    key = es.api_key.get_secret_value() if es.api_key else None
    return build_es_client(url, api_key=key, ca_file=es.ca_file)


def _flat(source: dict[str, Any], path: str) -> Any:
    if path in source:
        return source[path]
    node: Any = source
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _search(
    es: elasticsearch.Elasticsearch, index: str, query: dict[str, Any], size: int
) -> list[dict[str, Any]]:
    try:
        response = es.search(
            index=index,
            query=query,
            size=size,
            sort=[{"@timestamp": {"order": "asc", "unmapped_type": "date"}}],
            ignore_unavailable=True,
            allow_no_indices=True,
        )
    except (elasticsearch.ApiError, elastic_transport.TransportError) as exc:
        raise ElasticsearchUnavailable(f"search of {index} failed: {type(exc).__name__}") from None
    hits: list[dict[str, Any]] = response["hits"]["hits"]
    return hits


class AlertDocReader:
    """Reads alert documents by id for the receiver."""

    def __init__(self, es: elasticsearch.Elasticsearch) -> None:
        self.es = es

    async def read(self, refs: Sequence[AlertRefs]) -> tuple[list[dict[str, Any]], list[str]]:
        """Search hits (``_id``, ``_index``, ``_source``) for the referenced ids, and the ids not found.

        Raises:
            ElasticsearchUnavailable: the cluster could not be searched.
        """
        return await asyncio.to_thread(self._read, list(refs))

    def _read(self, refs: list[AlertRefs]) -> tuple[list[dict[str, Any]], list[str]]:
        hits: list[dict[str, Any]] = []
        missing: list[str] = []
        for ref in refs:
            if not ref.ids:
                continue
            query = {
                "bool": {
                    "should": [{"ids": {"values": ref.ids}}, {"terms": {UUID_FIELD: ref.ids}}],
                    "minimum_should_match": 1,
                }
            }
            found: dict[str, dict[str, Any]] = {}
            for raw in _search(self.es, ref.index, query, min(2 * len(ref.ids), 10_000)):
                uuid = _flat(raw.get("_source") or {}, UUID_FIELD)
                for key in (raw.get("_id"), uuid):
                    if isinstance(key, str) and key in ref.ids:
                        found.setdefault(key, raw)
            seen: set[tuple[str, str]] = set()
            for alert_id in ref.ids:
                doc = found.get(alert_id)
                if doc is None:
                    missing.append(alert_id)
                elif (doc["_index"], doc["_id"]) not in seen:
                    seen.add((doc["_index"], doc["_id"]))
                    hits.append(
                        {"_id": doc["_id"], "_index": doc["_index"], "_source": doc.get("_source") or {}}
                    )
        return hits, missing


def open_alerts(es: elasticsearch.Elasticsearch, index: str, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` alerts whose workflow status is ``open``, oldest first (blocking)."""
    query = {"bool": {"filter": [{"term": {STATUS_FIELD: "open"}}]}}
    return _search(es, index, query, limit)
