"""Load the sample SIEM data set into a (local) cluster for `fireline up`, `make demo` and tests.

Replaces the two sample indices: model-gateway request logs with the planted incidents, and the
Elastic Security alerts that point at them. Meant for the local stand-in or a scratch cluster:
on a real Elasticsearch, ``logs-*-*`` names are data streams, which this deletes and recreates.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any

import elasticsearch
from pydantic import BaseModel, ConfigDict

from engine.sdk import ActionError
from integrations.elasticsearch.errors import translate
from integrations.elasticsearch.sample_alerts import all_alerts
from integrations.elasticsearch.sample_catalog import (
    ALERTS_INDEX,
    INCIDENTS,
    LOGS_INDEX,
    SAMPLE_ALERT_IDS,
    SampleIncident,
)
from integrations.elasticsearch.sample_logs import background, incident_traffic

_SEED = 20_241_120
_CHUNK = 500


class SeedFailed(ActionError):
    """The sample data could not be written."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type="SeedFailed", retryable=False)


_KEYWORDS_BY_DEFAULT: dict[str, Any] = {
    "strings_as_keyword": {
        "match_mapping_type": "string",
        "mapping": {"type": "keyword", "ignore_above": 1024},
    }
}

LOGS_MAPPINGS: dict[str, Any] = {
    "dynamic_templates": [_KEYWORDS_BY_DEFAULT],
    "properties": {
        "@timestamp": {"type": "date"},
        "user": {"properties": {"name": {"type": "keyword"}, "email": {"type": "keyword"}}},
        "source": {"properties": {"ip": {"type": "ip"}}},
        "event": {"properties": {"outcome": {"type": "keyword"}, "duration": {"type": "long"}}},
        "http": {"properties": {"response": {"properties": {"status_code": {"type": "long"}}}}},
        "ml": {
            "properties": {
                "model": {"properties": {"name": {"type": "keyword"}, "version": {"type": "keyword"}}},
                "prompt_injection": {
                    "properties": {"score": {"type": "float"}, "blocked": {"type": "boolean"}}
                },
            }
        },
        "llm": {
            "properties": {
                "usage": {
                    "properties": {
                        "prompt_tokens": {"type": "long"},
                        "completion_tokens": {"type": "long"},
                        "total_tokens": {"type": "long"},
                    }
                }
            }
        },
        "pii": {"properties": {"detected": {"type": "boolean"}, "count": {"type": "long"}}},
    },
}

ALERTS_MAPPINGS: dict[str, Any] = {
    "dynamic_templates": [_KEYWORDS_BY_DEFAULT],
    "properties": {
        "@timestamp": {"type": "date"},
        "kibana.alert.start": {"type": "date"},
        "kibana.alert.last_detected": {"type": "date"},
        "kibana.alert.original_time": {"type": "date"},
        "kibana.alert.workflow_status_updated_at": {"type": "date"},
        "kibana.alert.risk_score": {"type": "float"},
        "kibana.alert.depth": {"type": "long"},
        "kibana.alert.reason": {"type": "keyword", "ignore_above": 4096},
        "source.ip": {"type": "ip"},
    },
}


class IncidentFacts(BaseModel):
    """Where one planted incident hides, for docs, demos and tests."""

    model_config = ConfigDict(frozen=True)

    alert_id: str
    rule_name: str
    model: str
    user: str
    api_key_id: str
    source_ips: list[str]
    documents: int
    first_seen: str
    last_seen: str


class SeedSummary(BaseModel):
    """What :func:`seed_sample_data` wrote."""

    model_config = ConfigDict(frozen=True)

    logs_index: str
    alerts_index: str
    log_count: int
    alert_count: int
    alert_ids: dict[SampleIncident, str]
    incidents: dict[SampleIncident, IncidentFacts]
    seconds: float


def _facts(incident: SampleIncident, docs: list[dict[str, Any]]) -> IncidentFacts:
    spec = INCIDENTS[incident]
    stamps = sorted(d["@timestamp"] for d in docs)
    return IncidentFacts(
        alert_id=spec.alert_id,
        rule_name=spec.rule_name,
        model=spec.model,
        user=spec.user,
        api_key_id=spec.api_key_id,
        source_ips=sorted({d["source"]["ip"] for d in docs}),
        documents=len(docs),
        first_seen=stamps[0],
        last_seen=stamps[-1],
    )


def _recreate(es: elasticsearch.Elasticsearch, index: str, mappings: dict[str, Any]) -> None:
    if index.startswith(("logs-", "metrics-", "traces-")):
        # On a real cluster these names are data streams, which index APIs do not remove; the
        # local server has no data stream API at all (it answers 400), and nothing to remove.
        es.options(ignore_status=(400, 404)).indices.delete_data_stream(name=index)
    es.indices.delete(index=index, ignore_unavailable=True)
    try:
        es.indices.create(index=index, mappings=mappings)
    except elasticsearch.BadRequestError as exc:
        if "data stream" not in str(exc):
            raise
        # A built-in template makes this name a data stream (created by the first bulk write);
        # its ECS mappings already type the fields as the sample data needs.


def _bulk_create(es: elasticsearch.Elasticsearch, index: str, docs: list[tuple[str, dict[str, Any]]]) -> None:
    # Plain bulk requests of modest size: the bulk helper's per-action work doubles the client's
    # time, and the local server indexes small requests faster than one large one.
    for start in range(0, len(docs), _CHUNK):
        operations: list[dict[str, Any]] = []
        for doc_id, doc in docs[start : start + _CHUNK]:
            operations += [{"create": {"_index": index, "_id": doc_id}}, doc]
        response = es.bulk(operations=operations)
        if response.get("errors"):
            failed = next(i["create"] for i in response["items"] if i["create"].get("error"))
            raise SeedFailed(f"writing to {index} failed: {failed['error']}")


def seed_sample_data(
    es_url: str,
    *,
    now: datetime | None = None,
    logs_index: str = LOGS_INDEX,
    alerts_index: str = ALERTS_INDEX,
    client: elasticsearch.Elasticsearch | None = None,
) -> SeedSummary:
    """Replace the sample indices with a fresh, deterministic data set ending at ``now``.

    Args:
        es_url: The cluster, e.g. ``http://127.0.0.1:19200``.
        now: The end of the data set (default: the current time); the same ``now`` gives the
            same documents and ids.
        logs_index: Where the request logs go.
        alerts_index: Where the alerts go.
        client: A client to use instead of one built from ``es_url`` (for credentials or TLS).

    Raises:
        SeedFailed: the cluster could not be reached or refused a write.
    """
    started = time.monotonic()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rng = random.Random(_SEED)
    traffic = incident_traffic(rng, now)
    logs = background(rng, now) + [doc for docs in traffic.values() for doc in docs]
    logs.sort(key=lambda d: d["@timestamp"])
    alerts = all_alerts(traffic, now)
    es = client or elasticsearch.Elasticsearch(es_url, request_timeout=60)
    try:
        _recreate(es, logs_index, LOGS_MAPPINGS)
        _recreate(es, alerts_index, ALERTS_MAPPINGS)
        _bulk_create(es, logs_index, [(f"gw-{i:06d}", doc) for i, doc in enumerate(logs)])
        _bulk_create(es, alerts_index, [(doc["kibana.alert.uuid"], doc) for doc in alerts])
        es.indices.refresh(index=f"{logs_index},{alerts_index}")
    except (elasticsearch.ApiError, elasticsearch.TransportError) as exc:
        raise SeedFailed(str(translate(exc, operation=f"seed {es_url}"))) from exc
    finally:
        if client is None:
            es.close()
    return SeedSummary(
        logs_index=logs_index,
        alerts_index=alerts_index,
        log_count=len(logs),
        alert_count=len(alerts),
        alert_ids=dict(SAMPLE_ALERT_IDS),
        incidents={i: _facts(i, docs) for i, docs in traffic.items()},
        seconds=round(time.monotonic() - started, 3),
    )


__all__ = [
    "SAMPLE_ALERT_IDS",
    "IncidentFacts",
    "SampleIncident",
    "SeedFailed",
    "SeedSummary",
    "seed_sample_data",
]
