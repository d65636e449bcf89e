"""Send one event to PagerDuty's Events API v2 (``POST /v2/enqueue``).

Settings (``ctx.settings`` first, then the environment): ``PAGERDUTY_EVENTS_URL`` (default
``https://events.pagerduty.com``). Secret: ``PAGERDUTY_ROUTING_KEY``, the integration key of the
service to page. Answers: 202 accepted; 400 an invalid event (not retried); 429 and 5xx retried.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from engine.sdk import ActionContext, ActionError
from integrations.http.transport import send, status_error
from integrations.pagerduty.models import EventAction, EventResult

EVENTS_URL = "PAGERDUTY_EVENTS_URL"
ROUTING_KEY = "PAGERDUTY_ROUTING_KEY"
DEFAULT_EVENTS_URL = "https://events.pagerduty.com"
TIMEOUT_S = 30.0


def events_url(ctx: ActionContext) -> str:
    """The enqueue endpoint for this attempt."""
    base = ctx.setting(EVENTS_URL) or DEFAULT_EVENTS_URL
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ActionError(
            f"{EVENTS_URL} must look like https://events.pagerduty.com", type="NotConfigured", retryable=False
        )
    return base.rstrip("/") + "/v2/enqueue"


def enqueue(ctx: ActionContext, event: dict[str, Any]) -> EventResult:
    """Send ``event`` (without ``routing_key``, which is added here) and read PagerDuty's answer.

    Raises:
        ActionError: ``InvalidEvent`` for a 400 (with PagerDuty's reasons), ``RateLimited`` for a 429,
            ``Unavailable`` for 5xx or no connection.
    """
    url = events_url(ctx)
    body = json.dumps({"routing_key": ctx.secret(ROUTING_KEY), **event}).encode()
    response = send(
        "POST",
        url,
        headers={"Content-Type": "application/json"},
        content=body,
        timeout=TIMEOUT_S,
        max_bytes=64 * 1024,
    )
    action = EventAction(event["event_action"])
    operation = f"PagerDuty {action.value}"
    answer = response.json_body if isinstance(response.json_body, dict) else {}
    if response.status == 400:
        reasons = answer.get("errors")
        detail = (
            "; ".join(str(r) for r in reasons[:5])
            if isinstance(reasons, list)
            else str(answer.get("message", ""))
        )
        raise ActionError(f"{operation}: invalid event: {detail[:500]}", type="InvalidEvent", retryable=False)
    if response.status not in (200, 201, 202):
        raise status_error(operation, response, [202])
    return EventResult(
        status=str(answer.get("status", "success")),
        message=str(answer.get("message", "")),
        dedup_key=str(answer.get("dedup_key") or event.get("dedup_key") or ""),
        event_action=action,
    )
