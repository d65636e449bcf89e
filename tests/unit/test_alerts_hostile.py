"""Alert payloads are attacker-controlled: anything yields alerts or a clear AlertInvalid."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.alerts import PayloadInvalid, normalize
from engine.alerts import payload as payload_module
from engine.alerts.payload import MAX_DEPTH, safe_copy
from engine.errors import AlertInvalid

RECEIVED = datetime(2026, 11, 20, 8, 14, 5, tzinfo=UTC)
SOURCES = ("elastic", "alertmanager", "generic")

# Keys the normalizers look at, so random documents reach deep into their code paths.
KEYS = st.sampled_from(
    [
        "alerts",
        "context",
        "alert_ids",
        "index",
        "_id",
        "_index",
        "_source",
        "id",
        "rule",
        "name",
        "title",
        "status",
        "labels",
        "annotations",
        "alertname",
        "severity",
        "startsAt",
        "fingerprint",
        "instance",
        "@timestamp",
        "timestamp",
        "kibana.alert.rule.name",
        "kibana.alert.severity",
        "kibana.alert.risk_score",
        "kibana.alert.instance.id",
        "kibana.alert.status",
        "kibana.alert",
        "host",
        "host.name",
        "user",
        "api_key.id",
        "source.ip",
        "ml.model.name",
        "model",
        "related.ip",
        "event.severity",
        "level",
        "priority",
    ]
) | st.text(max_size=12)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["critical", "P1", "resolved", "10.0.0.1", "[::1]:9100", "2026-11-20T08:00:00Z", "73"])
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=40,
)
SMALL_JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=8,
)


def run(source: str, payload: object) -> None:
    try:
        result = normalize(source, payload, received_at=RECEIVED)
    except AlertInvalid as exc:
        assert str(exc)
        return
    # Whatever was accepted must travel as JSON (to Temporal, to Elasticsearch).
    json.loads(result.model_dump_json())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(SOURCES), payload=JSON)
def test_random_json_never_raises_anything_but_alert_invalid(source: str, payload: Any) -> None:
    run(source, payload)


@settings(max_examples=120, deadline=None)
@given(
    source=st.sampled_from(SOURCES),
    alerts=st.lists(st.dictionaries(KEYS, SMALL_JSON, max_size=8), max_size=4),
)
def test_random_alert_lists_never_raise_anything_but_alert_invalid(source: str, alerts: list[Any]) -> None:
    run(source, {"alerts": alerts})
    run(source, {"context": {"alerts": alerts}})


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"a": float("nan")}, "not finite"),
        ({"a": [float("inf")]}, "not finite"),
        ({"a": "\ud800"}, "lone surrogate"),
        ({"\udc80": 1}, "lone surrogate"),
        ({1: "x"}, "not a string"),
        ({"a": b"bytes"}, "not a JSON value"),
        ({"a": {1, 2}}, "not a JSON value"),
        ({"a": datetime.now(UTC)}, "not a JSON value"),
        ({"a": 2**64}, "64 bits"),
    ],
)
def test_values_json_cannot_carry_are_refused(source: str, payload: Any, reason: str) -> None:
    with pytest.raises(PayloadInvalid, match=reason):
        normalize(
            source, {"alerts": [payload]} if source == "alertmanager" else payload, received_at=RECEIVED
        )


def nested(depth: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        doc = {"n": doc}
    return doc


@pytest.mark.parametrize("source", SOURCES)
def test_deep_nesting_is_refused_without_recursion_errors(source: str) -> None:
    for depth in (MAX_DEPTH + 1, 100_000):
        with pytest.raises(PayloadInvalid, match="nesting deeper than 64") as caught:
            normalize(source, nested(depth), received_at=RECEIVED)
        assert caught.value.path.startswith("n.n.n")
    safe_copy(nested(MAX_DEPTH))


def test_huge_strings_are_clipped_where_fireline_shows_them() -> None:
    huge = "A" * 2_000_000
    payload = {"kibana.alert.rule.name": huge, "kibana.alert.reason": huge + "\n\x00bell", "host.name": huge}
    alert = normalize("elastic", payload, received_at=RECEIVED).alerts[0]
    assert len(alert.rule) <= 512 and len(alert.title) <= 512
    assert alert.entities.hosts == []
    assert alert.fields["host.name"] == huge  # fields stay untouched


def test_control_characters_do_not_reach_titles() -> None:
    alert = normalize("generic", {"title": "line one\r\nline\ttwo\x1b[31m"}, received_at=RECEIVED).alerts[0]
    assert alert.title == "line one line two [31m"


def test_unicode_is_kept() -> None:
    alert = normalize("generic", {"rule": "модель ☃ 模型", "model": "模型-1"}, received_at=RECEIVED).alerts[0]
    assert alert.rule == "модель ☃ 模型"
    assert alert.entities.models == ["模型-1"]


@pytest.mark.parametrize("source", SOURCES)
def test_more_than_a_thousand_alerts_is_refused(source: str) -> None:
    alerts = [{"labels": {"alertname": "a"}, "title": "t", "kibana.alert.rule.name": "r"}] * 1001
    with pytest.raises(PayloadInvalid, match="limit of 1000"):
        normalize(source, alerts if source == "generic" else {"alerts": alerts}, received_at=RECEIVED)


def test_ids_and_documents_together_count_towards_the_limit() -> None:
    payload = {
        "alert_ids": [f"id-{i}" for i in range(600)],
        "alerts": [{"_id": f"x-{i}"} for i in range(600)],
    }
    with pytest.raises(PayloadInvalid, match="1200 alerts"):
        normalize("elastic", payload, received_at=RECEIVED)


def test_wide_payloads_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(payload_module, "MAX_NODES", 1000)
    assert safe_copy({"a": [0] * 998}) == {"a": [0] * 998}  # root + list + 998 items
    with pytest.raises(PayloadInvalid, match="more than 1000 values"):
        safe_copy({"a": [0] * 999})


def test_error_paths_from_attacker_keys_stay_short() -> None:
    key = "k" * 10_000
    with pytest.raises(PayloadInvalid) as caught:
        normalize("generic", {key: {key: float("nan")}}, received_at=RECEIVED)
    assert len(str(caught.value)) < 400
