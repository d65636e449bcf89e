"""Page the on-call responders and close the page again (PagerDuty Events API v2).

A trigger's dedup key defaults to the step's idempotency key: a retried step updates the same
PagerDuty alert instead of opening another. Pass it on to ``pagerduty.resolve`` through the
trigger step's output (``{{ steps.page.output.dedup_key }}``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from engine.sdk import ActionContext, action
from integrations.pagerduty.client import ROUTING_KEY, enqueue
from integrations.pagerduty.models import MAX_DEDUP_KEY, EventAction, ResolveParams, TriggerParams


def default_dedup_key(idempotency_key: str) -> str:
    """The step's idempotency key, hashed when longer than PagerDuty accepts."""
    if len(idempotency_key) <= MAX_DEDUP_KEY:
        return idempotency_key
    return "fireline-" + hashlib.sha256(idempotency_key.encode()).hexdigest()


@action("pagerduty.trigger", secrets=[ROUTING_KEY], idempotent=True)
def trigger(ctx: ActionContext, params: TriggerParams) -> dict[str, Any]:
    """Open (or add to) a PagerDuty alert; returns {status, message, dedup_key, event_action}."""
    payload: dict[str, Any] = {
        "summary": params.summary,
        "source": params.source,
        "severity": params.severity.value,
        "custom_details": {
            **params.custom_details,
            "fireline_run": ctx.run_id,
            "fireline_step": ctx.step_path,
        },
    }
    for name, value in (
        ("component", params.component),
        ("group", params.group),
        ("class", params.event_class),
    ):
        if value is not None:
            payload[name] = value
    if params.timestamp is not None:
        payload["timestamp"] = params.timestamp.isoformat()
    event: dict[str, Any] = {
        "event_action": EventAction.TRIGGER.value,
        "dedup_key": params.dedup_key or default_dedup_key(ctx.idempotency_key),
        "payload": payload,
        "client": "fireline",
    }
    if params.links:
        event["links"] = [link.model_dump(exclude_none=True) for link in params.links]
    return enqueue(ctx, event).model_dump(mode="json")


@action("pagerduty.resolve", secrets=[ROUTING_KEY], idempotent=True)
def resolve(ctx: ActionContext, params: ResolveParams) -> dict[str, Any]:
    """Resolve the alert with this dedup key; resolving a resolved alert changes nothing."""
    event = {"event_action": EventAction.RESOLVE.value, "dedup_key": params.dedup_key}
    return enqueue(ctx, event).model_dump(mode="json")


@action("pagerduty.acknowledge", secrets=[ROUTING_KEY], idempotent=True)
def acknowledge(ctx: ActionContext, params: ResolveParams) -> dict[str, Any]:
    """Acknowledge the alert with this dedup key (stops further notifications while work goes on)."""
    event = {"event_action": EventAction.ACKNOWLEDGE.value, "dedup_key": params.dedup_key}
    return enqueue(ctx, event).model_dump(mode="json")
