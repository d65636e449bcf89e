"""Pieces every normalizer shares: the final assembly of an :class:`Alert`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from engine.alerts.entities import extract_entities
from engine.alerts.fingerprint import content_id, derived_fingerprint, key_entities, provided_fingerprint
from engine.alerts.model import Alert, AlertSource, Entities, Severity
from engine.alerts.payload import PayloadInvalid
from engine.alerts.values import MAX_ID_CHARS, clip, one_line


@dataclass(frozen=True)
class Parts:
    """What a source-specific reader found in one document (unset parts are derived)."""

    id: str | None
    rule: str | None
    title: str | None
    severity: Severity | None
    occurred_at: datetime | None
    provided_fingerprint: str | None = None
    fingerprint_scope: str = ""
    rule_key: str | None = None  # identity of the rule for fingerprints, when it differs from the name


def fingerprint_for(
    source: AlertSource,
    parts: Parts,
    rule: str,
    entities: Entities,
    doc: dict[str, Any],
    volatile: Iterable[str],
) -> str:
    """The provided fingerprint if any; else rule + key entities; else the document's content.

    The content fallback keeps unrelated alerts that name neither a rule nor an entity from all
    collapsing into one incident.
    """
    if parts.provided_fingerprint:
        return provided_fingerprint(source, parts.provided_fingerprint, scope=parts.fingerprint_scope)
    rule_key = parts.rule_key or rule
    if rule_key or any(key_entities(entities).values()):
        return derived_fingerprint(source, rule_key, entities)
    return provided_fingerprint(source, content_id(doc, ignore=volatile), scope="content")


def build_alert(
    source: AlertSource,
    doc: dict[str, Any],
    parts: Parts,
    *,
    received_at: datetime,
    path: str,
    volatile: Iterable[str] = (),
    entities: Entities | None = None,
) -> Alert:
    """Assemble the alert for ``doc`` (already checked by ``safe_copy``).

    Args:
        source: where the document came from.
        doc: the original document; it becomes ``fields`` unchanged.
        parts: values the source reader found.
        received_at: when the receiver got the payload (aware UTC).
        path: where ``doc`` sits in the payload, for error messages.
        volatile: top-level keys (ids, timestamps) left out of a content-based fingerprint or id.
        entities: entities when the caller extracted them already; else read from ``doc``.

    Raises:
        PayloadInvalid: when the document is empty or the alert cannot be built.
    """
    if not doc:
        raise PayloadInvalid(path, "empty object is not an alert")
    volatile = tuple(volatile)
    found = entities if entities is not None else extract_entities(doc)
    rule = one_line(parts.rule) if parts.rule else ""
    title = one_line(parts.title) if parts.title else (rule or f"{source.value} alert")
    fingerprint = fingerprint_for(source, parts, rule, found, doc, volatile)
    alert_id = clip(parts.id, MAX_ID_CHARS) if parts.id else content_id(doc, ignore=())[:32]
    try:
        return Alert(
            id=alert_id,
            source=source,
            rule=rule,
            title=title,
            severity=parts.severity or Severity.MEDIUM,
            fingerprint=fingerprint,
            occurred_at=parts.occurred_at or received_at,
            received_at=received_at,
            entities=found,
            fields=doc,
        )
    except ValidationError as exc:  # a bug guard: every input above is already a checked str/datetime
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        raise PayloadInvalid(
            path, f"cannot build the alert ({where}: {first.get('msg', 'invalid')})"
        ) from None
