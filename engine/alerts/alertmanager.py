"""Prometheus Alertmanager webhook payloads (``version: "4"``).

Each item of ``alerts`` becomes one alert; ``status: resolved`` items go to
``NormalizeResult.resolved``. ``fields`` is the item itself (``labels``, ``annotations``,
``startsAt``, ``generatorURL``...); group-level keys such as ``receiver`` stay out of it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from engine.alerts.common import Parts, build_alert
from engine.alerts.model import AlertSource, Severity
from engine.alerts.payload import PayloadInvalid, expect_list, expect_object, join_path, safe_copy
from engine.alerts.result import NormalizeResult
from engine.alerts.values import first_text, require_time, severity_from_word, text, utc

SUMMARY_PATHS = ("annotations.summary", "annotations.title", "annotations.message", "annotations.description")
SEVERITY_PATHS = ("labels.severity", "labels.priority", "labels.level")
_STATUSES = ("firing", "resolved")


def normalize_alertmanager(payload: object, *, received_at: datetime) -> NormalizeResult:
    """Normalize an Alertmanager webhook body.

    Severity comes from ``labels.severity`` (``critical``/``page`` → critical, ``error`` → high,
    ``warning`` → medium, ``info``/``none`` → info; unknown or missing → medium), the rule from
    ``labels.alertname``, the title from ``annotations.summary`` (else the alert name) and the
    fingerprint from Alertmanager's ``fingerprint`` (else from the sorted labels, as
    Alertmanager computes its own).

    Raises:
        PayloadInvalid: naming the field, when the body is not an Alertmanager webhook body.
    """
    body = expect_object(safe_copy(payload), "")
    if "alerts" not in body:
        raise PayloadInvalid("alerts", "missing: an Alertmanager webhook body has an alerts array")
    items = expect_list(body["alerts"], "alerts")
    received = utc(received_at)
    result = NormalizeResult()
    for i, raw in enumerate(items):
        where = join_path("alerts", i)
        item = expect_object(raw, where)
        labels = expect_object(item.get("labels", {}), join_path(where, "labels"))
        expect_object(item.get("annotations", {}), join_path(where, "annotations"))
        status = item.get("status", "firing")
        if status not in _STATUSES:
            raise PayloadInvalid(
                join_path(where, "status"), f"must be firing or resolved, got {status!r:.40}"
            )
        series = text(item.get("fingerprint")) or _labels_key(labels)
        occurred_at = require_time(item, ("startsAt",), where)
        parts = Parts(
            # One firing episode of one series: re-sends (repeat_interval) keep the same id.
            id=f"{series}@{(occurred_at or received).isoformat()}" if series else None,
            rule=text(labels.get("alertname")),
            title=first_text(item, SUMMARY_PATHS),
            severity=_severity(item),
            occurred_at=occurred_at,
            provided_fingerprint=series,
        )
        alert = build_alert(AlertSource.ALERTMANAGER, item, parts, received_at=received, path=where)
        (result.resolved if status == "resolved" else result.alerts).append(alert)
    return result


def _severity(item: dict[str, Any]) -> Severity | None:
    for path in SEVERITY_PATHS:
        found = severity_from_word(first_text(item, (path,)))
        if found:
            return found
    return None


def _labels_key(labels: dict[str, Any]) -> str | None:
    """A stand-in for Alertmanager's fingerprint: a hash of the sorted label set (``None`` without labels)."""
    if not labels:
        return None
    canonical = json.dumps(labels, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:16]
