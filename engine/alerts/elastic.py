"""Elastic Security (Kibana) alerts: Webhook connector bodies, alert documents and search hits.

Accepted shapes of the payload:

- one alert document (flat dotted keys such as ``"kibana.alert.rule.name"``, nested objects,
  or both), or a search hit ``{"_id", "_index", "_source": {...}}``;
- a wrapper ``{"alerts": [...]}`` or ``{"context": {"alerts": [...]}}``, or a bare array;
- references only: ``{"alert_ids": [...], "index": "..."}`` or items that carry nothing but
  ``_id``/``_index``. These come back as :class:`AlertRefs` for the caller to read from
  Elasticsearch and pass back in here.

A top-level ``rule: {name, id}`` (Kibana's ``{{rule.name}}`` context) fills in documents that
lack a rule. Legacy ``signal.*`` fields (Kibana 7) are read too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.alerts.common import Parts, build_alert
from engine.alerts.model import Alert, AlertSource, Severity
from engine.alerts.paths import get
from engine.alerts.payload import MAX_ALERTS, PayloadInvalid, expect_list, expect_object, join_path, safe_copy
from engine.alerts.result import DEFAULT_ALERT_INDEX, AlertRefs, NormalizeResult
from engine.alerts.values import (
    first_text,
    require_time,
    severity_from_score,
    severity_from_word,
    severity_of,
    text,
    utc,
)

ID_PATHS = ("kibana.alert.uuid", "signal.id", "id")
RULE_NAME_PATHS = ("kibana.alert.rule.name", "signal.rule.name", "rule.name")
RULE_ID_PATHS = (
    "kibana.alert.rule.rule_id",
    "kibana.alert.rule.uuid",
    "signal.rule.rule_id",
    "signal.rule.id",
)
TITLE_PATHS = ("kibana.alert.reason", "signal.reason", "message")
SEVERITY_WORD_PATHS = ("kibana.alert.severity", "signal.rule.severity")
RISK_SCORE_PATHS = (
    "kibana.alert.risk_score",
    "kibana.alert.rule.parameters.risk_score",
    "signal.rule.risk_score",
)
EVENT_SEVERITY_PATH = "event.severity"
TIME_PATHS = ("kibana.alert.original_time", "@timestamp", "kibana.alert.start", "signal.original_time")
INSTANCE_PATHS = ("kibana.alert.instance.id", "kibana.alert.group.id")
VOLATILE_KEYS = (
    "@timestamp",
    "_id",
    "id",
    "kibana.alert.uuid",
    "kibana.alert.original_time",
    "kibana.alert.start",
)

_REF_KEYS = frozenset(
    {"_id", "_index", "id", "index", "_score", "_version", "_seq_no", "_primary_term", "_routing"}
)
_ID_LIST_KEYS = ("alert_ids", "alertIds", "ids")
_INDEX_KEYS = ("index", "_index", "alert_index")
# Kibana alert indices only: references name what the receiver will read, so an attacker must
# not be able to point it at any other index (or several, with commas).
_ALERT_INDEX = re.compile(r"(\.internal)?\.alerts-[a-z0-9][a-z0-9._*-]{0,200}")
_MAX_ES_ID_BYTES = 512
_NO_PARTS = Parts(None, None, None, None, None)


@dataclass
class _Body:
    """A payload split into alert documents and referenced ids."""

    items: list[Any] = field(default_factory=list)
    items_path: str = ""
    single: bool = False  # the payload itself is the one document
    ids: list[Any] = field(default_factory=list)
    ids_path: str = "alert_ids"
    index: str = DEFAULT_ALERT_INDEX


def normalize_elastic(payload: object, *, received_at: datetime) -> NormalizeResult:
    """Normalize a Kibana Webhook connector body (or alert documents read from Elasticsearch).

    Args:
        payload: the decoded JSON body (any JSON value; it is checked here).
        received_at: when the receiver got it.

    Returns:
        Firing alerts, recovered/closed ones under ``resolved``, and id-only references under ``refs``.

    Raises:
        PayloadInvalid: (an :class:`~engine.errors.AlertInvalid`) naming the field and the reason.
    """
    data = safe_copy(payload)
    received = utc(received_at)
    body = _unpack(data)
    total = len(body.items) + len(body.ids)
    if total > MAX_ALERTS:
        raise PayloadInvalid(body.items_path, f"{total} alerts, more than the limit of {MAX_ALERTS}")
    fallback = _body_rule(data) if isinstance(data, dict) else _NO_PARTS
    result = NormalizeResult()
    refs: dict[str, list[str]] = {}
    if body.ids:
        refs[body.index] = [_ref_id(value, join_path(body.ids_path, i)) for i, value in enumerate(body.ids)]
    for i, item in enumerate(body.items):
        where = body.items_path if body.single else join_path(body.items_path, i)
        doc = expect_object(item, where)
        if _is_ref(doc):
            index = _ref_index(doc.get("_index", doc.get("index")), join_path(where, "_index"), body.index)
            refs.setdefault(index, []).append(_ref_id(doc.get("_id", doc.get("id")), join_path(where, "_id")))
            continue
        alert, resolved = _alert(doc, where, received, fallback)
        (result.resolved if resolved else result.alerts).append(alert)
    result.refs = [AlertRefs(index=name, ids=list(dict.fromkeys(values))) for name, values in refs.items()]
    return result


def _unpack(data: Any) -> _Body:
    if isinstance(data, list):
        return _Body(items=expect_list(data, ""))
    obj = expect_object(data, "")
    body = _Body()
    ids_key = next((key for key in _ID_LIST_KEYS if key in obj), None)
    if ids_key is not None:
        body.ids, body.ids_path = expect_list(obj[ids_key], ids_key), ids_key
        index_key = next((key for key in _INDEX_KEYS if key in obj), None)
        if index_key is not None:
            body.index = _ref_index(obj[index_key], index_key, DEFAULT_ALERT_INDEX)
    context = obj.get("context")
    if isinstance(context, dict) and "alerts" in context:
        body.items, body.items_path = expect_list(context["alerts"], "context.alerts"), "context.alerts"
    elif "alerts" in obj:
        body.items, body.items_path = expect_list(obj["alerts"], "alerts"), "alerts"
    elif ids_key is None:
        body.items, body.single = [obj], True
    return body


def _is_ref(doc: dict[str, Any]) -> bool:
    return bool(doc) and doc.keys() <= _REF_KEYS and ("_id" in doc or "id" in doc)


def _ref_id(value: object, path: str) -> str:
    ref = text(value)
    if ref is None:
        raise PayloadInvalid(path, "alert id must be a non-empty string")
    if len(ref.encode("utf-8")) > _MAX_ES_ID_BYTES:
        raise PayloadInvalid(path, f"alert id longer than {_MAX_ES_ID_BYTES} bytes")
    return ref


def _ref_index(value: object, path: str, default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or not _ALERT_INDEX.fullmatch(value):
        shown = f"{value!r:.80}" if isinstance(value, str) else "a non-string"
        raise PayloadInvalid(path, f"{shown} is not a Kibana alerts index (.alerts-* or .internal.alerts-*)")
    return value


def _body_rule(body: dict[str, Any]) -> Parts:
    """Rule name and id from the connector's top-level ``rule`` (or ``context.rule``) object."""
    rule = body.get("rule")
    if not isinstance(rule, dict):
        context = body.get("context")
        rule = context.get("rule") if isinstance(context, dict) else None
    if not isinstance(rule, dict):
        return _NO_PARTS
    return Parts(None, text(rule.get("name")), None, None, None, rule_key=text(rule.get("id")))


def _severity(doc: dict[str, Any]) -> Severity | None:
    for path in SEVERITY_WORD_PATHS:
        found = severity_from_word(get(doc, path))
        if found:
            return found
    for path in RISK_SCORE_PATHS:
        found = severity_from_score(get(doc, path))
        if found:
            return found
    return severity_of(get(doc, EVENT_SEVERITY_PATH))


def _alert(item: dict[str, Any], where: str, received_at: datetime, fallback: Parts) -> tuple[Alert, bool]:
    """Build the alert for one document; the flag says whether it is recovered or closed."""
    doc = item
    meta_id = None
    if "_source" in item:
        doc = expect_object(item["_source"], join_path(where, "_source"))
        meta_id = text(item.get("_id"))
        where = join_path(where, "_source")
    rule = first_text(doc, RULE_NAME_PATHS) or fallback.rule
    rule_key = first_text(doc, RULE_ID_PATHS) or fallback.rule_key or rule
    instance = first_text(doc, INSTANCE_PATHS)
    parts = Parts(
        id=first_text(doc, ID_PATHS) or meta_id or text(doc.get("_id")),
        rule=rule,
        title=first_text(doc, TITLE_PATHS),
        severity=_severity(doc),
        occurred_at=require_time(doc, TIME_PATHS, where),
        provided_fingerprint=instance,
        fingerprint_scope=rule_key or "",
        rule_key=rule_key,
    )
    status = (text(get(doc, "kibana.alert.status")) or "").lower()
    workflow = (text(get(doc, "kibana.alert.workflow_status")) or "").lower()
    resolved = status == "recovered" or workflow == "closed"
    alert = build_alert(
        AlertSource.ELASTIC, doc, parts, received_at=received_at, path=where, volatile=VOLATILE_KEYS
    )
    return alert, resolved
