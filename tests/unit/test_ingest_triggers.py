"""Trigger matching over a catalog: any/all, sources, and why an alert did not match."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from engine.alerts.model import Alert, AlertSource, Severity
from engine.ingest.triggers import TriggerSet
from tests.fixtures.ingest import playbook_yaml, write_catalog

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def alert(
    source: AlertSource = AlertSource.ELASTIC, rule: str = "AI model prompt injection", **kw: object
) -> Alert:
    base: dict[str, object] = {
        "id": "a1",
        "source": source,
        "rule": rule,
        "title": "t",
        "severity": Severity.HIGH,
        "fingerprint": "fp",
        "occurred_at": NOW,
        "received_at": NOW,
        "fields": {"ml": {"model": {"name": "fraud-scorer"}}},
    }
    return Alert.model_validate(base | kw)


def triggers(tmp_path: Path) -> TriggerSet:
    return TriggerSet.from_catalog(
        write_catalog(
            tmp_path,
            playbook_yaml(
                "any-elastic",
                """
                any:
                  - source: alertmanager
                    match: {rule: "Token*"}
                  - source: elastic
                    match: {rule: "AI model *", severity: [high, critical]}
                """,
            ),
            playbook_yaml(
                "all-rules",
                """
                all:
                  - source: any
                    match: {fields.ml.model.name: {exists: true}}
                  - source: any
                    match: {severity: critical}
                """,
            ),
            playbook_yaml("hunt-only", "schedule: '0 * * * *'"),
        )
    )


def test_any_first_matching_rule_wins_and_source_must_match(tmp_path: Path) -> None:
    report = triggers(tmp_path).match(alert())
    assert [(m.playbook.name, m.rule) for m in report.matches] == [("any-elastic", 1)]
    assert report.mismatches == {"all-rules": "rule 1: severity: 'high' does not match 'critical'"}


def test_all_needs_every_rule(tmp_path: Path) -> None:
    report = triggers(tmp_path).match(alert(severity=Severity.CRITICAL))
    assert [(m.playbook.name, m.rule) for m in report.matches] == [("any-elastic", 1), ("all-rules", 0)]


def test_no_match_explains_each_playbook(tmp_path: Path) -> None:
    report = triggers(tmp_path).match(alert(source=AlertSource.GENERIC, rule="other", fields={}))
    assert report.matches == []
    assert "any-elastic" in report.reason() and "source: generic is not elastic" in report.reason()
    assert "fields.ml.model.name: missing" in report.mismatches["all-rules"]


def test_scheduled_playbooks_are_listed_and_never_match_alerts(tmp_path: Path) -> None:
    t = triggers(tmp_path)
    assert [p.name for p in t.scheduled] == ["hunt-only"]
    assert [p.name for p in t.alert_triggered] == ["any-elastic", "all-rules"]
    assert t.get("hunt-only") is not None and t.get("hunt-only").schedule == "0 * * * *"  # type: ignore[union-attr]
