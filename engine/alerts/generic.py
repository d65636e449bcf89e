"""Any JSON object (or array of objects) from a tool that can POST JSON.

Fields are picked from common keys, the first present one winning (dotted names also match
nested objects, ``"rule.name"`` → ``{"rule": {"name": ...}}``):

========== ===========================================================================
id         ``id``, ``alert_id``, ``alertId``, ``uuid``, ``_id``, ``event.id``
           (else a hash of the whole object, so a re-sent copy keeps its id)
rule       ``rule.name``, ``rule``, ``rule_name``, ``ruleName``, ``alertname``,
           ``alert_name``, ``check``, ``name`` (else the title)
title      ``title``, ``summary``, ``message``, ``annotations.summary``, ``description``
           (else the rule)
severity   ``severity``, ``event.severity``, ``labels.severity`` (word or 0-100 risk score),
           ``level``, ``priority``, ``log.level`` (words only: their numbers run both ways),
           ``risk_score`` (0-100); else medium
occurred   ``occurred_at``, ``timestamp``, ``@timestamp``, ``time``, ``created_at``,
           ``createdAt``, ``startsAt``, ``event.created``, ``date`` (ISO 8601 or epoch s/ms;
           unreadable values are skipped); else the receive time
fingerprint ``fingerprint``, ``dedup_key``, ``dedupKey``, ``incident_key``; else derived
status     ``status`` or ``state`` equal to resolved/ok/closed/recovered puts the alert
           under ``resolved``
========== ===========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from engine.alerts.common import Parts, build_alert
from engine.alerts.model import Alert, AlertSource, Severity
from engine.alerts.paths import lookup
from engine.alerts.payload import expect_list, expect_object, join_path, safe_copy
from engine.alerts.result import NormalizeResult
from engine.alerts.values import (
    first_text,
    parse_time,
    severity_from_score,
    severity_from_word,
    severity_of,
    utc,
)

ID_PATHS = ("id", "alert_id", "alertId", "uuid", "_id", "event.id")
RULE_PATHS = ("rule.name", "rule", "rule_name", "ruleName", "alertname", "alert_name", "check", "name")
TITLE_PATHS = ("title", "summary", "message", "annotations.summary", "description")
TIME_PATHS = (
    "occurred_at",
    "timestamp",
    "@timestamp",
    "time",
    "created_at",
    "createdAt",
    "startsAt",
    "event.created",
    "date",
)
FINGERPRINT_PATHS = ("fingerprint", "dedup_key", "dedupKey", "incident_key")
STATUS_PATHS = ("status", "state")
RESOLVED_STATUSES = frozenset({"resolved", "ok", "closed", "recovered"})
SEVERITY_PATHS: tuple[tuple[str, Callable[[object], Severity | None]], ...] = (
    ("severity", severity_of),
    ("event.severity", severity_of),
    ("labels.severity", severity_of),
    ("level", severity_from_word),
    ("priority", severity_from_word),
    ("log.level", severity_from_word),
    ("risk_score", severity_from_score),
)
_VOLATILE = ID_PATHS + TIME_PATHS


def normalize_generic(payload: object, *, received_at: datetime) -> NormalizeResult:
    """Normalize one JSON object, or an array of them, into alerts (see the module docstring).

    Raises:
        PayloadInvalid: when the payload is neither an object nor an array of objects, or an
            object is empty.
    """
    data = safe_copy(payload)
    received = utc(received_at)
    if isinstance(data, list):
        docs = [(join_path("", i), item) for i, item in enumerate(expect_list(data, ""))]
    else:
        docs = [("", expect_object(data, ""))]
    result = NormalizeResult()
    for where, item in docs:
        alert, resolved = _alert(expect_object(item, where), where, received)
        (result.resolved if resolved else result.alerts).append(alert)
    return result


def _severity(doc: dict[str, Any]) -> Severity | None:
    for path, parse in SEVERITY_PATHS:
        found, value = lookup(doc, path)
        if found:
            severity = parse(value)
            if severity:
                return severity
    return None


def _occurred(doc: dict[str, Any]) -> datetime | None:
    for path in TIME_PATHS:
        found, value = lookup(doc, path)
        moment = parse_time(value) if found else None
        if moment:
            return moment
    return None


def _alert(doc: dict[str, Any], where: str, received_at: datetime) -> tuple[Alert, bool]:
    rule = first_text(doc, RULE_PATHS)
    title = first_text(doc, TITLE_PATHS)
    parts = Parts(
        id=first_text(doc, ID_PATHS),
        rule=rule or title,
        title=title or rule,
        severity=_severity(doc),
        occurred_at=_occurred(doc),
        provided_fingerprint=first_text(doc, FINGERPRINT_PATHS),
    )
    status = (first_text(doc, STATUS_PATHS) or "").lower()
    alert = build_alert(
        AlertSource.GENERIC, doc, parts, received_at=received_at, path=where, volatile=_VOLATILE
    )
    return alert, status in RESOLVED_STATUSES
