"""Any JSON a tool can POST becomes a normalized alert."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.alerts import AlertSource, PayloadInvalid, Severity, normalize, normalize_generic

DATA = Path(__file__).resolve().parents[1] / "data" / "alerts"
RECEIVED = datetime(2026, 11, 20, 8, 14, 5, tzinfo=UTC)


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def one(payload: Any) -> Any:
    result = normalize_generic(payload, received_at=RECEIVED)
    assert len(result.alerts) == 1, result
    return result.alerts[0]


def test_common_keys_are_picked_up() -> None:
    payload = load("generic_gateway.json")
    alert = one(payload)
    assert alert.source is AlertSource.GENERIC
    assert alert.id == "gw-20261120-000042"
    assert alert.rule == "gateway-jailbreak-burst"
    assert alert.title == "Jailbreak attempts from one API key"
    assert alert.severity is Severity.HIGH  # "P2"
    assert alert.occurred_at == datetime(2026, 11, 20, 8, 14, 3, tzinfo=UTC)  # epoch milliseconds
    assert alert.entities.models == ["support-bot"]
    assert alert.entities.api_keys == ["ak_test_91xZ"]
    assert alert.entities.users == ["alice@example.com"]
    assert alert.entities.ips == ["198.51.100.23"]
    assert alert.entities.hosts == ["edge-proxy-1"]
    assert alert.fields == payload


def test_an_array_of_objects_gives_one_alert_each() -> None:
    result = normalize(
        "generic", [{"title": "a"}, {"title": "b", "status": "resolved"}], received_at=RECEIVED
    )
    assert [a.title for a in result.alerts] == ["a"]
    assert [a.title for a in result.resolved] == ["b"]


@pytest.mark.parametrize(
    ("doc", "severity"),
    [
        ({"severity": "critical"}, Severity.CRITICAL),
        ({"severity": 80}, Severity.CRITICAL),
        ({"level": "warning"}, Severity.MEDIUM),
        ({"level": 1}, Severity.MEDIUM),  # numeric levels run both ways: ignored
        ({"priority": "P4"}, Severity.LOW),
        ({"event": {"severity": 30}}, Severity.MEDIUM),
        ({"log.level": "error"}, Severity.HIGH),
        ({"risk_score": 10}, Severity.LOW),
        ({"severity": "debug"}, Severity.INFO),
    ],
)
def test_severity_from_common_keys(doc: dict[str, Any], severity: Severity) -> None:
    assert one({"title": "t", **doc}).severity is severity


def test_timestamps_in_several_forms_and_unreadable_ones_skipped() -> None:
    moment = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    assert one({"title": "t", "@timestamp": "2026-11-20T09:00:00+01:00"}).occurred_at == moment
    assert one({"title": "t", "time": 1795161600}).occurred_at == moment
    assert one({"title": "t", "time": "1795161600"}).occurred_at == moment
    assert one({"title": "t", "timestamp": "2026-11-20T08:00:00"}).occurred_at == moment  # naive is UTC
    assert (
        one({"title": "t", "timestamp": "last tuesday", "date": "2026-11-20T08:00:00Z"}).occurred_at == moment
    )
    assert one({"title": "t", "timestamp": 10**18 * 9}).occurred_at == RECEIVED


def test_what_is_missing_is_derived() -> None:
    alert = one({"host": "db-7", "cpu": 99})
    assert alert.rule == "" and alert.title == "generic alert"
    assert alert.severity is Severity.MEDIUM
    assert alert.occurred_at == RECEIVED
    assert alert.entities.hosts == ["db-7"]
    # The same document keeps its id; another document gets another one.
    assert one({"host": "db-7", "cpu": 99}).id == alert.id
    assert one({"host": "db-7", "cpu": 98}).id != alert.id


def test_fingerprint_provided_derived_or_from_content() -> None:
    provided = one({"title": "x", "fingerprint": "abc"}).fingerprint
    assert one({"title": "y", "fingerprint": "abc", "model": "m"}).fingerprint == provided
    # Rule and key entities, not ids or timestamps.
    a = one({"rule": "r", "model": "m", "id": "1", "timestamp": 1})
    b = one({"rule": "r", "model": "m", "id": "2", "timestamp": 2})
    c = one({"rule": "r", "model": "other", "id": "3"})
    assert a.fingerprint == b.fingerprint != c.fingerprint
    # Nothing to go by: unrelated documents must not collapse into one incident.
    d = one({"cpu": 99, "timestamp": 1})
    e = one({"cpu": 99, "timestamp": 2})
    f = one({"disk": 99})
    assert d.fingerprint == e.fingerprint != f.fingerprint


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ("just text", "$"),
        (42, "$"),
        (None, "$"),
        ([1, 2], "[0]"),
        ({}, "$"),
        ([{"a": 1}, []], "[1]"),
    ],
)
def test_non_objects_are_refused(payload: Any, path: str) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        normalize_generic(payload, received_at=RECEIVED)
    assert caught.value.path == path


def test_unknown_source_is_refused() -> None:
    with pytest.raises(PayloadInvalid, match="not an alert source"):
        normalize("splunk", {"a": 1}, received_at=RECEIVED)
    with pytest.raises(PayloadInvalid, match="not an alert source"):
        normalize("schedule", {"a": 1}, received_at=RECEIVED)
