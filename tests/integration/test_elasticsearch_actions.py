"""Contract tests of the Elasticsearch actions against a real server (noida-db, or a cluster).

Run against a real cluster by setting ELASTICSEARCH_URL (and credentials); see
tests/fixtures/elasticsearch.py.
"""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch
from pydantic import ValidationError

from engine.sdk import ActionError
from integrations.elasticsearch.sample_catalog import SampleIncident
from integrations.elasticsearch.seed import SeedSummary
from tests.fixtures.elasticsearch import (  # noqa: F401
    elasticsearch_secrets,
    elasticsearch_url,
    es_admin,
    es_contexts,
    es_index_prefix,
    seeded,
)
from tests.integration.conftest_es import Contexts, run

pytestmark = pytest.mark.integration


def _key_query(seeded: SeedSummary, incident: SampleIncident) -> dict[str, object]:
    return {"term": {"user.api_key.id": seeded.incidents[incident].api_key_id}}


# --- search -------------------------------------------------------------------------------------


def test_search_returns_sources_with_ids_sorted_and_exact_total(
    es_contexts: Contexts, seeded: SeedSummary
) -> None:
    out = run(
        "elasticsearch.search",
        es_contexts(),
        index=seeded.logs_index,
        query={"bool": {"filter": [{"term": {"ml.model.name": "support-assistant"}}]}},
        size=5,
        sort=[{"@timestamp": "desc"}],
    )
    assert len(out["hits"]) == 5
    assert out["total"] > 100
    assert out["truncated"] is True
    stamps = [h["@timestamp"] for h in out["hits"]]
    assert stamps == sorted(stamps, reverse=True)
    for hit in out["hits"]:
        assert hit["_index"] == seeded.logs_index
        assert hit["_id"].startswith("gw-")
        assert hit["ml"]["model"]["name"] == "support-assistant"


def test_search_source_filter_and_fields(es_contexts: Contexts, seeded: SeedSummary) -> None:
    query = {
        "bool": {
            "filter": [_key_query(seeded, SampleIncident.PII_EXPOSURE), {"term": {"pii.detected": True}}]
        }
    }
    out = run(
        "elasticsearch.search",
        es_contexts(),
        index=seeded.logs_index,
        query=query,
        size=2,
        _source=["user.*"],
        fields=["ml.model.name"],
    )
    hit = out["hits"][0]
    assert set(hit) == {"user", "fields", "_id", "_index"}
    assert hit["user"]["name"] == "maria.santos"
    assert hit["fields"]["ml.model.name"] == ["support-assistant"]


def test_search_everything_fits_in_one_page_is_not_truncated(
    es_contexts: Contexts, seeded: SeedSummary
) -> None:
    query = _key_query(seeded, SampleIncident.PROMPT_INJECTION)
    out = run("elasticsearch.search", es_contexts(), index=seeded.logs_index, query=query, size=1000)
    assert out["total"] == len(out["hits"]) >= 90
    assert out["truncated"] is False


def test_deep_paging_collects_many_pages_up_to_max_hits(es_contexts: Contexts, seeded: SeedSummary) -> None:
    beats: list[object] = []
    query = _key_query(seeded, SampleIncident.MODEL_EXTRACTION)
    out = run(
        "elasticsearch.search",
        es_contexts(heartbeat=lambda *d: beats.append(d)),
        index=seeded.logs_index,
        query=query,
        sort=[{"@timestamp": "asc"}],
        page_size=300,
        max_hits=1000,
    )
    assert len(out["hits"]) == 1000  # more than three pages of 300
    assert out["total"] >= 2000
    assert out["truncated"] is True
    assert len({h["_id"] for h in out["hits"]}) == 1000, "no hit may appear twice across pages"
    stamps = [h["@timestamp"] for h in out["hits"]]
    assert stamps == sorted(stamps), "the sort order holds across pages"
    assert len(beats) >= 4, "a long search reports progress"


def test_deep_paging_returns_all_hits_when_the_cap_is_not_reached(
    es_contexts: Contexts, seeded: SeedSummary
) -> None:
    query = _key_query(seeded, SampleIncident.MODEL_EXTRACTION)
    out = run(
        "elasticsearch.search",
        es_contexts(),
        index=seeded.logs_index,
        query=query,
        page_size=700,
        max_hits=50_000,
        _source=["@timestamp"],
    )
    assert len(out["hits"]) == out["total"] >= 2000
    assert out["truncated"] is False
    assert len({h["_id"] for h in out["hits"]}) == out["total"]


def test_size_above_page_size_pages_without_max_hits(es_contexts: Contexts, seeded: SeedSummary) -> None:
    out = run("elasticsearch.search", es_contexts(), index=seeded.logs_index, size=1200, page_size=500)
    assert len(out["hits"]) == 1200
    assert len({h["_id"] for h in out["hits"]}) == 1200
    assert out["total"] == seeded.log_count
    assert out["truncated"] is True


def test_search_of_a_pattern_that_matches_nothing_is_empty(
    es_contexts: Contexts, es_index_prefix: str
) -> None:
    out = run("elasticsearch.search", es_contexts(), index=f"{es_index_prefix}-nothing-*", max_hits=5000)
    assert out == {"total": 0, "hits": [], "truncated": False}


def test_search_of_a_missing_index_fails_for_good(es_contexts: Contexts, es_index_prefix: str) -> None:
    with pytest.raises(ActionError) as err:
        run("elasticsearch.search", es_contexts(), index=f"{es_index_prefix}-missing")
    assert err.value.type == "IndexNotFound"
    assert err.value.retryable is False
    assert f"{es_index_prefix}-missing" in str(err.value)


def test_bad_query_fails_at_once_with_elasticsearchs_reason(
    es_contexts: Contexts, seeded: SeedSummary
) -> None:
    with pytest.raises(ActionError) as err:
        run("elasticsearch.search", es_contexts(), index=seeded.logs_index, query={"no_such_query": {}})
    assert err.value.type == "BadRequest"
    assert err.value.retryable is False
    assert "no_such_query" in str(err.value)
    assert "Traceback" not in str(err.value)


def test_parameters_are_checked_before_anything_runs(es_contexts: Contexts) -> None:
    ctx = es_contexts()
    with pytest.raises(ValidationError, match="exactly one top-level clause"):
        run("elasticsearch.search", ctx, index="logs-*", query={"term": {"a": 1}, "range": {}})
    with pytest.raises(ValidationError, match="less than or equal to 10000"):
        run("elasticsearch.search", ctx, index="logs-*", size=10_001)
    with pytest.raises(ValidationError, match="Extra inputs"):
        run("elasticsearch.search", ctx, index="logs-*", qurey={"match_all": {}})
    with pytest.raises(ValidationError, match="one concrete index"):
        run("elasticsearch.index", ctx, index="fireline-*", document={})


# --- count and aggregate ------------------------------------------------------------------------


def test_count(es_contexts: Contexts, seeded: SeedSummary) -> None:
    ctx = es_contexts()
    assert run("elasticsearch.count", ctx, index=seeded.logs_index) == {"count": seeded.log_count}
    query = _key_query(seeded, SampleIncident.PII_EXPOSURE)
    pii = run("elasticsearch.count", ctx, index=seeded.logs_index, query=query)["count"]
    assert pii >= seeded.incidents[SampleIncident.PII_EXPOSURE].documents


def test_count_of_a_missing_index_fails_for_good(es_contexts: Contexts, es_index_prefix: str) -> None:
    with pytest.raises(ActionError) as err:
        run("elasticsearch.count", es_contexts(), index=f"{es_index_prefix}-missing")
    assert (err.value.type, err.value.retryable) == ("IndexNotFound", False)


def test_aggregate_terms_histogram_cardinality_top_hits_stats(
    es_contexts: Contexts, seeded: SeedSummary
) -> None:
    out = run(
        "elasticsearch.aggregate",
        es_contexts(),
        index=seeded.logs_index,
        query={"term": {"ml.model.name": "fraud-scorer"}},
        aggs={
            "keys": {"terms": {"field": "user.api_key.id", "size": 3}},
            "per_day": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1d"}},
            "users": {"cardinality": {"field": "user.name"}},
            "latest": {"top_hits": {"size": 1, "sort": [{"@timestamp": "desc"}]}},
            "tokens": {"stats": {"field": "llm.usage.total_tokens"}},
        },
    )
    aggs = out["aggregations"]
    assert aggs["keys"]["buckets"][0]["key"] == seeded.incidents[SampleIncident.MODEL_EXTRACTION].api_key_id
    assert sum(b["doc_count"] for b in aggs["per_day"]["buckets"]) == out["total"]
    assert aggs["users"]["value"] >= 2
    assert aggs["latest"]["hits"]["hits"][0]["_source"]["ml"]["model"]["name"] == "fraud-scorer"
    assert aggs["tokens"]["count"] == out["total"]
    assert aggs["tokens"]["min"] <= aggs["tokens"]["avg"] <= aggs["tokens"]["max"]


def test_aggregate_with_an_unknown_aggregation_is_a_bad_request(
    es_contexts: Contexts, seeded: SeedSummary
) -> None:
    with pytest.raises(ActionError) as err:
        run(
            "elasticsearch.aggregate", es_contexts(), index=seeded.logs_index, aggs={"x": {"no_such_agg": {}}}
        )
    assert (err.value.type, err.value.retryable) == ("BadRequest", False)


# --- index --------------------------------------------------------------------------------------


def test_index_retry_with_the_same_idempotency_key_writes_once(
    es_contexts: Contexts, es_admin: Elasticsearch, es_index_prefix: str
) -> None:
    index = f"{es_index_prefix}-incidents"
    doc = {"event": {"kind": "incident"}, "ml": {"model": {"name": "fraud-scorer"}}}
    first = run(
        "elasticsearch.index", es_contexts(idempotency_key="run-7/record/0"), index=index, document=doc
    )
    retry = run(
        "elasticsearch.index",
        es_contexts(idempotency_key="run-7/record/0", attempt=2),
        index=index,
        document=doc,
    )
    other = run(
        "elasticsearch.index", es_contexts(idempotency_key="run-8/record/0"), index=index, document=doc
    )
    assert first["result"] == "created"
    assert retry == {"id": first["id"], "index": index, "result": "noop"}
    assert other["id"] != first["id"]
    assert es_admin.count(index=index, query={"term": {"_id": first["id"]}})["count"] == 1
    assert es_admin.count(index=index)["count"] == 2
    stored = es_admin.get(index=index, id=first["id"])["_source"]
    assert stored["ml"]["model"]["name"] == "fraud-scorer"
    assert stored["@timestamp"].endswith("Z")


def test_index_with_an_explicit_id_creates_then_replaces(es_contexts: Contexts, es_index_prefix: str) -> None:
    index = f"{es_index_prefix}-records"
    ctx = es_contexts()
    first = run("elasticsearch.index", ctx, index=index, id="incident-1", document={"state": "open"})
    second = run("elasticsearch.index", ctx, index=index, id="incident-1", document={"state": "contained"})
    assert (first["id"], first["result"]) == ("incident-1", "created")
    assert (second["id"], second["result"]) == ("incident-1", "updated")
    found = run("elasticsearch.search", ctx, index=index, query={"ids": {"values": ["incident-1"]}})
    assert found["hits"][0]["state"] == "contained"
