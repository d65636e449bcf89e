"""Elastic Security alert documents that point at the planted incidents.

Shaped like the documents Kibana's detection engine writes to ``.alerts-security.alerts-<space>``:
flat dotted ``kibana.alert.*`` keys, plus the ECS entity fields of the events that fired the rule
(``ml.model.name``, ``user.name``, ``user.api_key.id``, ``source.ip``), also as flat keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from integrations.elasticsearch.sample_catalog import (
    CODE_HELPER,
    FRAUD_SCORER,
    INCIDENTS,
    IncidentSpec,
    SampleIncident,
    sample_uuid,
)
from integrations.elasticsearch.sample_logs import iso

_REASONS: dict[SampleIncident, str] = {
    SampleIncident.PROMPT_INJECTION: "{n} requests with prompt-injection score >= 0.8 against {model} "
    "from API key {key} ({user}) since {start}",
    SampleIncident.LEAKED_API_KEY: "API key {key} ({user}) used from {ips} new source IPs since {start}",
    SampleIncident.MODEL_EXTRACTION: "{n} scoring requests to {model} from API key {key} ({user}) "
    "at a steady rate since {start}",
    SampleIncident.PII_EXPOSURE: "{n} {model} responses to API key {key} ({user}) contained personal data "
    "since {start}",
}


def _timestamps(docs: Sequence[dict[str, Any]]) -> tuple[str, str]:
    stamps = sorted(d["@timestamp"] for d in docs)
    return stamps[0], stamps[-1]


def alert_doc(
    *,
    alert_id: str,
    rule_name: str,
    description: str,
    severity: str,
    risk_score: int,
    reason: str,
    detected_at: str,
    original_time: str,
    entities: dict[str, Any],
    workflow_status: str = "open",
) -> dict[str, Any]:
    """One detection alert with flat dotted keys, as Kibana stores it."""
    rule_slug = rule_name.lower().replace(" ", "-").replace(":", "")
    return {
        "@timestamp": detected_at,
        "event.kind": "signal",
        "kibana.space_ids": ["default"],
        "kibana.alert.uuid": alert_id,
        "kibana.alert.start": detected_at,
        "kibana.alert.last_detected": detected_at,
        "kibana.alert.original_time": original_time,
        "kibana.alert.status": "active",
        "kibana.alert.workflow_status": workflow_status,
        "kibana.alert.depth": 1,
        "kibana.alert.severity": severity,
        "kibana.alert.risk_score": risk_score,
        "kibana.alert.reason": reason,
        "kibana.alert.rule.name": rule_name,
        "kibana.alert.rule.description": description,
        "kibana.alert.rule.uuid": sample_uuid(f"rule:{rule_slug}"),
        "kibana.alert.rule.rule_id": f"fireline-sample-{rule_slug}",
        "kibana.alert.rule.category": "Custom Query Rule",
        "kibana.alert.rule.rule_type_id": "siem.queryRule",
        "kibana.alert.rule.producer": "siem",
        "kibana.alert.rule.consumer": "siem",
        "kibana.alert.rule.tags": ["AI", "Model Gateway", "fireline-sample"],
        "kibana.alert.original_event.dataset": "model_gateway.requests",
        **entities,
    }


def incident_alert(spec: IncidentSpec, docs: Sequence[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The alert for one planted incident, detected two minutes after its last event."""
    first, last = _timestamps(docs)
    detected = min(datetime.fromisoformat(last) + timedelta(minutes=2), now)
    ips = sorted({d["source"]["ip"] for d in docs})
    reason = _REASONS[spec.incident].format(
        n=len(docs), model=spec.model, key=spec.api_key_id, user=spec.user, ips=len(ips), start=first
    )
    return alert_doc(
        alert_id=spec.alert_id,
        rule_name=spec.rule_name,
        description=spec.description,
        severity=spec.severity,
        risk_score=spec.risk_score,
        reason=reason,
        detected_at=iso(detected),
        original_time=first,
        entities={
            "ml.model.name": spec.model,
            "user.name": spec.user,
            "user.api_key.id": spec.api_key_id,
            # One address stays a string, several become a list, as in ECS.
            "source.ip": ips[0] if len(ips) == 1 else ips[:10],
        },
    )


def noise_alerts(now: datetime) -> list[dict[str, Any]]:
    """Older alerts that a responder already handled: they must not start playbooks."""
    day_ago = iso(now - timedelta(hours=26))
    return [
        alert_doc(
            alert_id=sample_uuid("alert:noise:error-rate"),
            rule_name="AI model elevated error rate",
            description="The share of failed requests to a model is above 5%.",
            severity="low",
            risk_score=21,
            reason=f"7.2% of requests to {CODE_HELPER} failed in 15 minutes",
            detected_at=day_ago,
            original_time=day_ago,
            entities={"ml.model.name": CODE_HELPER},
            workflow_status="closed",
        ),
        alert_doc(
            alert_id=sample_uuid("alert:noise:token-spike"),
            rule_name="AI model token usage spike",
            description="Token usage of one API key is far above its weekly baseline.",
            severity="medium",
            risk_score=47,
            reason=f"svc-risk-engine used 3.1x its usual tokens on {FRAUD_SCORER}",
            detected_at=day_ago,
            original_time=day_ago,
            entities={"ml.model.name": FRAUD_SCORER, "user.name": "svc-risk-engine"},
            workflow_status="acknowledged",
        ),
    ]


def all_alerts(traffic: dict[SampleIncident, list[dict[str, Any]]], now: datetime) -> list[dict[str, Any]]:
    """Every sample alert: one open alert per planted incident, then the handled ones."""
    return [incident_alert(INCIDENTS[i], docs, now) for i, docs in traffic.items()] + noise_alerts(now)
