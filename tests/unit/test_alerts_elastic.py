"""Elastic Security (Kibana) payloads become the normalized alerts playbooks see."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.alerts import AlertRefs, AlertSource, PayloadInvalid, Severity, normalize_elastic
from engine.errors import AlertInvalid

DATA = Path(__file__).resolve().parents[1] / "data" / "alerts"
RECEIVED = datetime(2026, 11, 20, 8, 14, 5, 900000, tzinfo=UTC)


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """The same document with every dotted key spelled as nested objects."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, last = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = nest(value) if isinstance(value, dict) else value
    return out


def one(payload: Any) -> Any:
    result = normalize_elastic(payload, received_at=RECEIVED)
    assert len(result.alerts) == 1, result
    return result.alerts[0]


def test_security_alert_document_is_normalized() -> None:
    doc = load("elastic_prompt_injection.json")
    alert = one(doc)

    assert alert.source is AlertSource.ELASTIC
    assert alert.id == doc["kibana.alert.uuid"]
    assert alert.rule == "AI model prompt injection"
    assert alert.title == "event on model-gateway-2 created high alert AI model prompt injection."
    assert alert.severity is Severity.HIGH
    # The time of the original event, not the time the rule ran.
    assert alert.occurred_at == datetime(2026, 11, 20, 8, 14, 3, tzinfo=UTC)
    assert alert.received_at == RECEIVED
    assert alert.entities.hosts == ["model-gateway-2", "model-gateway-2.prod.internal"]
    assert alert.entities.users == ["svc-checkout", "svc-checkout@example.com"]
    assert alert.entities.ips == ["203.0.113.77", "10.20.0.12", "fe80::1"]
    assert alert.entities.api_keys == ["ak_live_7Hq2c9"]
    assert alert.entities.models == ["fraud-scorer"]
    assert len(alert.fingerprint) == 64
    # fields is the original document, and stays a detached copy.
    assert alert.fields == doc
    doc["ml"]["model"]["name"] = "changed"
    assert alert.fields["ml"]["model"]["name"] == "fraud-scorer"
    # Template markup inside alert data is kept as plain text.
    assert "{{ run.secrets }}" in alert.fields["gen_ai"]["prompt"]
    json.loads(alert.model_dump_json())


def test_nested_and_flat_spellings_give_the_same_alert() -> None:
    flat = load("elastic_prompt_injection.json")
    nested = one(nest(flat))
    expected = one(flat)
    assert (nested.id, nested.rule, nested.title, nested.severity) == (
        expected.id,
        expected.rule,
        expected.title,
        expected.severity,
    )
    assert nested.entities == expected.entities
    assert nested.fingerprint == expected.fingerprint
    assert nested.occurred_at == expected.occurred_at


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        (0, Severity.LOW),
        (21, Severity.LOW),
        (22, Severity.MEDIUM),
        (47, Severity.MEDIUM),
        (48, Severity.HIGH),
        (73, Severity.HIGH),
        (74, Severity.CRITICAL),
        (100, Severity.CRITICAL),
        ("99", Severity.CRITICAL),
    ],
)
def test_risk_score_bands_when_no_severity_word(score: object, severity: Severity) -> None:
    doc = {"kibana.alert.rule.name": "r", "kibana.alert.risk_score": score}
    assert one(doc).severity is severity


def test_severity_word_wins_over_risk_score_then_event_severity_then_medium() -> None:
    base = {"kibana.alert.rule.name": "r"}
    assert one({**base, "kibana.alert.severity": "critical", "kibana.alert.risk_score": 5}).severity is (
        Severity.CRITICAL
    )
    assert one({**base, "kibana.alert.severity": "nonsense", "kibana.alert.risk_score": 50}).severity is (
        Severity.HIGH
    )
    assert one({**base, "event": {"severity": 10}}).severity is Severity.LOW
    assert one({**base, "kibana.alert.risk_score": 250}).severity is Severity.MEDIUM
    assert one(base).severity is Severity.MEDIUM


@pytest.mark.parametrize("wrap", ["alerts", "context", "list", "hit"])
def test_webhook_bodies_that_wrap_documents(wrap: str) -> None:
    doc = load("elastic_prompt_injection.json")
    second = {**copy.deepcopy(doc), "kibana.alert.uuid": "second", "ml": {"model": {"name": "support-bot"}}}
    second["gen_ai"]["request"]["model"] = "support-bot"
    docs: list[Any] = [doc, second]
    if wrap == "hit":
        docs = [{"_id": d["kibana.alert.uuid"], "_index": ".internal.alerts-x", "_source": d} for d in docs]
    payload: Any = {
        "alerts": {"alerts": docs},
        "context": {"context": {"alerts": docs}, "rule": {"name": "AI model prompt injection"}},
        "list": docs,
        "hit": {"alerts": docs},
    }[wrap]
    result = normalize_elastic(payload, received_at=RECEIVED)
    assert [a.id for a in result.alerts] == [doc["kibana.alert.uuid"], "second"]
    assert [a.entities.models for a in result.alerts] == [["fraud-scorer"], ["support-bot"]]
    assert result.refs == []
    if wrap == "hit":
        assert result.alerts[0].fields == doc


def test_ids_only_body_returns_references_to_complete() -> None:
    payload = load("elastic_ids_only.json")
    result = normalize_elastic(payload, received_at=RECEIVED)
    assert result.alerts == [] and result.resolved == []
    assert result.refs == [AlertRefs(index=".alerts-security.alerts-default", ids=payload["alert_ids"])]
    assert result.ref_count() == 2


def test_reference_items_mixed_with_documents_are_grouped_by_index() -> None:
    doc = load("elastic_prompt_injection.json")
    payload = {
        "alerts": [
            {"_id": "a1", "_index": ".internal.alerts-security.alerts-default-000001"},
            doc,
            {"_id": "a2"},
            {"_id": "a1", "_index": ".internal.alerts-security.alerts-default-000001"},
        ]
    }
    result = normalize_elastic(payload, received_at=RECEIVED)
    assert [a.rule for a in result.alerts] == ["AI model prompt injection"]
    assert result.refs == [
        AlertRefs(index=".internal.alerts-security.alerts-default-000001", ids=["a1"]),
        AlertRefs(index=".alerts-security.alerts-*", ids=["a2"]),
    ]


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"alert_ids": ["x"], "index": "secrets"}, "index"),
        ({"alert_ids": ["x"], "index": ".alerts-security.alerts-default,secrets"}, "index"),
        ({"alert_ids": ["x"], "index": ".alerts-../_all"}, "index"),
        ({"alert_ids": ["x"], "index": 7}, "index"),
        ({"alerts": [{"_id": "x", "_index": "users"}]}, "alerts[0]._index"),
        ({"alert_ids": [""]}, "alert_ids[0]"),
        ({"alert_ids": [{"id": "x"}]}, "alert_ids[0]"),
        ({"alert_ids": ["x" * 513]}, "alert_ids[0]"),
        ({"alert_ids": "x"}, "alert_ids"),
        ({"alerts": "x"}, "alerts"),
        ({"alerts": [1]}, "alerts[0]"),
        ({"alerts": [{"_source": []}]}, "alerts[0]._source"),
    ],
)
def test_bad_references_and_shapes_name_the_field(payload: Any, path: str) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        normalize_elastic(payload, received_at=RECEIVED)
    assert caught.value.path == path
    assert isinstance(caught.value, AlertInvalid)
    assert caught.value.reason in str(caught.value)


def test_recovered_and_closed_alerts_are_returned_as_resolved() -> None:
    base = {"kibana.alert.rule.name": "r", "host.name": "h"}
    result = normalize_elastic(
        [
            {**base, "kibana.alert.uuid": "1", "kibana.alert.status": "recovered"},
            {**base, "kibana.alert.uuid": "2", "kibana.alert.workflow_status": "closed"},
            {**base, "kibana.alert.uuid": "3", "kibana.alert.status": "active"},
        ],
        received_at=RECEIVED,
    )
    assert [a.id for a in result.resolved] == ["1", "2"]
    assert [a.id for a in result.alerts] == ["3"]


def test_connector_rule_context_fills_in_a_missing_rule() -> None:
    result = normalize_elastic(
        {"rule": {"name": "AI model exfiltration", "id": "r-1"}, "alerts": [{"host.name": "h1"}]},
        received_at=RECEIVED,
    )
    assert result.alerts[0].rule == "AI model exfiltration"
    assert result.alerts[0].title == "AI model exfiltration"


def test_unreadable_timestamp_is_rejected_with_its_path() -> None:
    with pytest.raises(PayloadInvalid) as caught:
        normalize_elastic(
            {"alerts": [{"kibana.alert.rule.name": "r", "@timestamp": "yesterday"}]}, received_at=RECEIVED
        )
    assert caught.value.path == "alerts[0].@timestamp"
    assert "not a timestamp" in caught.value.reason


def test_missing_timestamp_and_id_are_derived() -> None:
    doc = {"kibana.alert.rule.name": "r", "host.name": "h"}
    alert = one(doc)
    assert alert.occurred_at == RECEIVED
    assert alert.id == one(dict(doc)).id  # the same document keeps the same id


def test_repeats_of_one_incident_share_a_fingerprint() -> None:
    doc = load("elastic_prompt_injection.json")
    repeat = copy.deepcopy(doc)
    repeat["kibana.alert.uuid"] = "another-alert-id"
    repeat["@timestamp"] = "2026-11-20T09:00:00Z"
    repeat["kibana.alert.original_time"] = "2026-11-20T08:59:58Z"
    repeat["source"]["ip"] = "198.51.100.9"  # same key, another address: same incident
    repeat["kibana.alert.reason"] = "event on model-gateway-2 created high alert again"
    other_model = copy.deepcopy(doc)
    other_model["ml"]["model"]["name"] = "support-bot"
    other_model["gen_ai"]["request"]["model"] = "support-bot"
    other_rule = {**copy.deepcopy(doc), "kibana.alert.rule.rule_id": "another-rule"}

    first, again = one(doc), one(repeat)
    assert first.id != again.id
    assert first.fingerprint == again.fingerprint
    assert one(other_model).fingerprint != first.fingerprint
    assert one(other_rule).fingerprint != first.fingerprint


def test_kibana_instance_id_is_used_as_the_fingerprint_within_its_rule() -> None:
    base = {"kibana.alert.rule.uuid": "rule-1", "kibana.alert.instance.id": "suppression-hash-1"}
    a = one({**base, "host.name": "h1"})
    b = one({**base, "host.name": "h2"})
    c = one({**base, "kibana.alert.rule.uuid": "rule-2"})
    assert a.fingerprint == b.fingerprint
    assert c.fingerprint != a.fingerprint


def test_empty_document_is_rejected() -> None:
    with pytest.raises(PayloadInvalid, match="empty object"):
        normalize_elastic({}, received_at=RECEIVED)
