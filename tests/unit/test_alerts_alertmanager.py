"""Prometheus Alertmanager webhook bodies become normalized alerts."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.alerts import AlertSource, PayloadInvalid, Severity, normalize, normalize_alertmanager

DATA = Path(__file__).resolve().parents[1] / "data" / "alerts"
RECEIVED = datetime(2026, 11, 20, 8, 14, 5, tzinfo=UTC)


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def body(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "receiver": "fireline", "alerts": list(alerts)}


def test_firing_and_resolved_alerts_are_split() -> None:
    payload = load("alertmanager_v4.json")
    result = normalize_alertmanager(payload, received_at=RECEIVED)

    assert len(result.alerts) == 1 and len(result.resolved) == 1
    firing = result.alerts[0]
    assert firing.source is AlertSource.ALERTMANAGER
    assert firing.rule == "ModelTokenBurn"
    assert firing.title == "fraud-scorer burns 40x its usual tokens per minute"
    assert firing.severity is Severity.CRITICAL
    assert firing.occurred_at == datetime(2026, 11, 20, 8, 10, 0, 123456, tzinfo=UTC)
    assert firing.entities.hosts == ["gpu-node-3"]
    assert firing.entities.models == ["fraud-scorer"]
    assert firing.entities.api_keys == ["ak_live_7Hq2c9"]
    assert firing.fields == payload["alerts"][0]
    assert firing.id.startswith("7b3c1f9a2e4d5c60@")

    resolved = result.resolved[0]
    assert resolved.rule == "ModelLatencyHigh"
    assert resolved.severity is Severity.MEDIUM
    assert resolved.entities.hosts == ["2001:db8::7"]
    assert resolved.entities.ips == ["2001:db8::7"]


def test_the_dispatcher_reaches_the_same_normalizer() -> None:
    payload = load("alertmanager_v4.json")
    assert normalize("alertmanager", payload, received_at=RECEIVED) == normalize_alertmanager(
        payload, received_at=RECEIVED
    )


@pytest.mark.parametrize(
    ("label", "severity"),
    [
        ("critical", Severity.CRITICAL),
        ("page", Severity.CRITICAL),
        ("error", Severity.HIGH),
        ("high", Severity.HIGH),
        ("warning", Severity.MEDIUM),
        ("Warning", Severity.MEDIUM),
        ("low", Severity.LOW),
        ("info", Severity.INFO),
        ("none", Severity.INFO),
        ("bogus", Severity.MEDIUM),
        (None, Severity.MEDIUM),
    ],
)
def test_severity_label_mapping(label: str | None, severity: Severity) -> None:
    labels = {"alertname": "A"} | ({"severity": label} if label is not None else {})
    result = normalize_alertmanager(body({"labels": labels}), received_at=RECEIVED)
    assert result.alerts[0].severity is severity


def test_fingerprint_follows_alertmanager_not_the_episode() -> None:
    payload = load("alertmanager_v4.json")
    first = normalize_alertmanager(payload, received_at=RECEIVED).alerts[0]
    later = copy.deepcopy(payload)
    later["alerts"][0]["startsAt"] = "2026-11-21T01:00:00Z"
    again = normalize_alertmanager(later, received_at=RECEIVED).alerts[0]
    assert again.fingerprint == first.fingerprint
    assert again.id != first.id
    other = copy.deepcopy(payload)
    other["alerts"][0]["fingerprint"] = "0000000000000001"
    assert normalize_alertmanager(other, received_at=RECEIVED).alerts[0].fingerprint != first.fingerprint


def test_without_a_fingerprint_the_label_set_identifies_the_series() -> None:
    labels = {"alertname": "A", "instance": "n1:9100", "job": "node"}
    reordered = dict(reversed(list(labels.items())))
    a = normalize_alertmanager(
        body({"labels": labels, "startsAt": "2026-11-20T08:00:00Z"}), received_at=RECEIVED
    )
    b = normalize_alertmanager(
        body({"labels": reordered, "startsAt": "2026-11-20T09:00:00Z"}), received_at=RECEIVED
    )
    c = normalize_alertmanager(body({"labels": {**labels, "job": "other"}}), received_at=RECEIVED)
    assert a.alerts[0].fingerprint == b.alerts[0].fingerprint
    assert c.alerts[0].fingerprint != a.alerts[0].fingerprint


def test_alert_name_is_the_title_without_a_summary() -> None:
    result = normalize_alertmanager(body({"labels": {"alertname": "DiskFull"}}), received_at=RECEIVED)
    assert result.alerts[0].title == "DiskFull"
    assert result.alerts[0].occurred_at == RECEIVED


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"version": "4"}, "alerts"),
        ({"alerts": {}}, "alerts"),
        ({"alerts": ["x"]}, "alerts[0]"),
        ({"alerts": [{"labels": ["a"]}]}, "alerts[0].labels"),
        ({"alerts": [{"labels": {"a": "b"}, "annotations": "x"}]}, "alerts[0].annotations"),
        ({"alerts": [{"labels": {"a": "b"}, "status": "pending"}]}, "alerts[0].status"),
        ({"alerts": [{"labels": {"a": "b"}, "startsAt": "soon"}]}, "alerts[0].startsAt"),
        ({"alerts": [{}]}, "alerts[0]"),
        ([{"labels": {}}], "$"),
    ],
)
def test_malformed_bodies_name_the_field(payload: Any, path: str) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        normalize_alertmanager(payload, received_at=RECEIVED)
    assert caught.value.path == path


def test_more_than_a_thousand_alerts_is_refused() -> None:
    alerts = [{"labels": {"alertname": f"A{i}"}} for i in range(1001)]
    with pytest.raises(PayloadInvalid, match="limit of 1000"):
        normalize_alertmanager(body(*alerts), received_at=RECEIVED)
    assert len(normalize_alertmanager(body(*alerts[:1000]), received_at=RECEIVED).alerts) == 1000
