"""The sample SIEM data set: realistic, deterministic, and the planted incidents can be found."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from integrations.elasticsearch.sample_alerts import all_alerts
from integrations.elasticsearch.sample_catalog import SAMPLE_ALERT_IDS, SAMPLE_API_KEYS, SampleIncident
from integrations.elasticsearch.sample_logs import background, incident_traffic
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


def _range(field: str, **bounds: object) -> dict[str, object]:
    return {"range": {field: bounds}}


def _term(field: str, value: object) -> dict[str, object]:
    return {"term": {field: value}}


def test_the_data_set_is_deterministic_for_a_given_now() -> None:
    now = datetime(2026, 11, 20, 8, 14, 3, tzinfo=UTC)

    def generate() -> tuple[object, ...]:
        rng = random.Random(20_241_120)
        traffic = incident_traffic(rng, now)
        return background(rng, now), traffic, all_alerts(traffic, now)

    assert generate() == generate()


def test_seed_summary(seeded: SeedSummary) -> None:
    assert 3000 <= seeded.log_count <= 8000
    assert seeded.alert_count == 6
    assert seeded.alert_ids == SAMPLE_ALERT_IDS
    assert set(seeded.incidents) == set(SampleIncident)
    for incident, facts in seeded.incidents.items():
        assert facts.api_key_id == SAMPLE_API_KEYS[incident]
        assert facts.documents > 0


def test_logs_span_three_days_of_ecs_documents(es_contexts: Contexts, seeded: SeedSummary) -> None:
    out = run(
        "elasticsearch.aggregate",
        es_contexts(),
        index=seeded.logs_index,
        aggs={
            "models": {"terms": {"field": "ml.model.name"}},
            "days": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1d"}},
            "statuses": {"terms": {"field": "http.response.status_code"}},
            "outcomes": {"terms": {"field": "event.outcome"}},
        },
    )
    aggs = out["aggregations"]
    assert out["total"] == seeded.log_count
    assert {b["key"] for b in aggs["models"]["buckets"]} == {
        "fraud-scorer",
        "support-assistant",
        "code-helper",
    }
    assert len(aggs["days"]["buckets"]) >= 3
    assert {200, 429, 403} <= {b["key"] for b in aggs["statuses"]["buckets"]}
    assert {b["key"] for b in aggs["outcomes"]["buckets"]} == {"success", "failure"}
    doc = run("elasticsearch.search", es_contexts(), index=seeded.logs_index, size=1)["hits"][0]
    for path in ("user.name", "user.email", "user.api_key.id", "source.ip", "ml.model.name"):
        value: object = doc
        for part in path.split("."):
            assert isinstance(value, dict) and part in value, path
            value = value[part]
    assert 0 <= doc["ml"]["prompt_injection"]["score"] <= 1
    assert doc["llm"]["usage"]["total_tokens"] > 0


def test_prompt_injection_burst_is_one_key_in_the_last_hour(
    es_contexts: Contexts, seeded: SeedSummary
) -> None:
    out = run(
        "elasticsearch.aggregate",
        es_contexts(),
        index=seeded.logs_index,
        query={
            "bool": {
                "filter": [
                    _term("ml.model.name", "support-assistant"),
                    _range("ml.prompt_injection.score", gte=0.8),
                    _range("@timestamp", gte="now-1h"),
                ]
            }
        },
        aggs={"keys": {"terms": {"field": "user.api_key.id"}}},
    )
    buckets = out["aggregations"]["keys"]["buckets"]
    assert [b["key"] for b in buckets] == [SAMPLE_API_KEYS[SampleIncident.PROMPT_INJECTION]]
    assert buckets[0]["doc_count"] >= 50


def test_leaked_key_is_used_from_many_new_addresses(es_contexts: Contexts, seeded: SeedSummary) -> None:
    ctx = es_contexts()
    recent = run(
        "elasticsearch.aggregate",
        ctx,
        index=seeded.logs_index,
        query=_range("@timestamp", gte="now-3h"),
        aggs={
            "keys": {
                "terms": {"field": "user.api_key.id", "size": 50},
                "aggs": {"ips": {"cardinality": {"field": "source.ip"}}},
            }
        },
    )
    # Ordering terms by a sub-aggregation is ignored by the local server: pick the top bucket here.
    top = max(recent["aggregations"]["keys"]["buckets"], key=lambda b: b["ips"]["value"])
    assert top["key"] == SAMPLE_API_KEYS[SampleIncident.LEAKED_API_KEY]
    assert top["ips"]["value"] >= 40
    before = run(
        "elasticsearch.aggregate",
        ctx,
        index=seeded.logs_index,
        query={"bool": {"filter": [_term("user.api_key.id", top["key"]), _range("@timestamp", lt="now-3h")]}},
        aggs={"ips": {"terms": {"field": "source.ip", "size": 100}}},
    )
    known = {b["key"] for b in before["aggregations"]["ips"]["buckets"]}
    new = set(seeded.incidents[SampleIncident.LEAKED_API_KEY].source_ips)
    assert known and not known & new, "the key's usual addresses are not among the new ones"


def test_model_extraction_is_thousands_of_uniform_queries(es_contexts: Contexts, seeded: SeedSummary) -> None:
    out = run(
        "elasticsearch.aggregate",
        es_contexts(),
        index=seeded.logs_index,
        query={
            "bool": {"filter": [_term("ml.model.name", "fraud-scorer"), _range("@timestamp", gte="now-6h")]}
        },
        aggs={
            "keys": {
                "terms": {"field": "user.api_key.id", "size": 3},
                "aggs": {
                    "tokens": {"stats": {"field": "llm.usage.prompt_tokens"}},
                    "hourly": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"}},
                },
            }
        },
    )
    top = out["aggregations"]["keys"]["buckets"][0]
    assert top["key"] == SAMPLE_API_KEYS[SampleIncident.MODEL_EXTRACTION]
    assert top["doc_count"] >= 1900
    assert top["tokens"]["avg"] < 60, "systematic: small, near-identical requests"
    full_hours = top["hourly"]["buckets"][1:-1]
    assert full_hours and all(b["doc_count"] >= 300 for b in full_hours), "a steady rate, hour after hour"


def test_pii_exposure_is_found_by_its_flag(es_contexts: Contexts, seeded: SeedSummary) -> None:
    out = run(
        "elasticsearch.aggregate",
        es_contexts(),
        index=seeded.logs_index,
        query={
            "bool": {"filter": [_term("pii.detected", True), _term("ml.model.name", "support-assistant")]}
        },
        aggs={"keys": {"terms": {"field": "user.api_key.id"}}},
    )
    top = out["aggregations"]["keys"]["buckets"][0]
    assert top["key"] == SAMPLE_API_KEYS[SampleIncident.PII_EXPOSURE]
    assert top["doc_count"] == seeded.incidents[SampleIncident.PII_EXPOSURE].documents


@pytest.mark.parametrize("incident", list(SampleIncident))
def test_each_alert_points_at_its_incident(
    es_contexts: Contexts, seeded: SeedSummary, incident: SampleIncident
) -> None:
    ctx = es_contexts()
    facts = seeded.incidents[incident]
    alert = run("elasticsearch.get_alert", ctx, id=SAMPLE_ALERT_IDS[incident], index=seeded.alerts_index)
    assert alert["kibana.alert.rule.name"] == facts.rule_name
    assert alert["kibana.alert.workflow_status"] == "open"
    assert alert["kibana.alert.severity"] in {"high", "critical"}
    assert alert["kibana.alert.risk_score"] >= 70
    assert facts.api_key_id in alert["kibana.alert.reason"]
    assert alert["ml.model.name"] == facts.model
    assert alert["user.api_key.id"] == facts.api_key_id
    ips = alert["source.ip"] if isinstance(alert["source.ip"], list) else [alert["source.ip"]]
    assert set(ips) <= set(facts.source_ips)
    found = run(
        "elasticsearch.count",
        ctx,
        index=seeded.logs_index,
        query={
            "bool": {
                "filter": [
                    _term("user.api_key.id", facts.api_key_id),
                    _range("@timestamp", gte=facts.first_seen),
                ]
            }
        },
    )
    assert found["count"] >= facts.documents


def test_only_the_incident_alerts_are_open(es_contexts: Contexts, seeded: SeedSummary) -> None:
    out = run(
        "elasticsearch.search",
        es_contexts(),
        index=seeded.alerts_index,
        query=_term("kibana.alert.workflow_status", "open"),
        size=20,
        _source=["kibana.alert.uuid"],
    )
    assert {h["kibana.alert.uuid"] for h in out["hits"]} == set(SAMPLE_ALERT_IDS.values())
