"""A fake PagerDuty Events API v2 for tests, following the documented requests and answers.

``POST /v2/enqueue`` on 127.0.0.1: 202 ``{"status": "success", "message": "Event processed",
"dedup_key": ...}`` for a valid event; 400 ``{"status": "invalid event", "message": "Event object
is invalid", "errors": [...]}`` otherwise. Alerts are kept per routing key and dedup key with
PagerDuty's de-duplication rules: a trigger adds to an open alert with the same key, a resolve
closes it, events for a resolved alert are dropped and a later trigger opens a new one.
``fail()`` (from :class:`~integrations.http.testing.LoopbackServer`) injects 429/500 answers::

    with FakePagerDuty(routing_keys={"R0UTINGKEY"}) as pd:
        ctx = action_context(settings={"PAGERDUTY_EVENTS_URL": pd.base_url},
                             secrets={"PAGERDUTY_ROUTING_KEY": "R0UTINGKEY"})
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from integrations.http.testing import LoopbackServer, Recorded, Reply

_SEVERITIES = frozenset({"critical", "error", "warning", "info"})
_ACTIONS = frozenset({"trigger", "acknowledge", "resolve"})


@dataclass
class Alert:
    """One PagerDuty alert and the events applied to it."""

    routing_key: str
    dedup_key: str
    status: str = "triggered"
    summary: str = ""
    severity: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)


def _invalid(*errors: str) -> Reply:
    return Reply(
        status=400,
        json={"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)},
    )


def validate(event: Any) -> list[str]:
    """PagerDuty's reasons for refusing ``event`` (empty when valid)."""
    if not isinstance(event, dict):
        return ["Event object must be a JSON object"]
    errors = []
    if not isinstance(event.get("routing_key"), str) or not event["routing_key"]:
        errors.append("'routing_key' is missing or blank")
    action = event.get("event_action")
    if action not in _ACTIONS:
        errors.append("'event_action' must be one of trigger, acknowledge, resolve")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup:
        errors.append("'dedup_key' is required for acknowledge and resolve events")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing or not an object"]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary or len(summary) > 1024:
            errors.append("'payload.summary' is required and at most 1024 characters")
        if not isinstance(payload.get("source"), str) or not payload["source"]:
            errors.append("'payload.source' is missing or blank")
        if payload.get("severity") not in _SEVERITIES:
            errors.append("'payload.severity' must be one of critical, error, warning, info")
    return errors


class FakePagerDuty(LoopbackServer):
    """The fake Events API; ``alerts`` holds every alert, newest last."""

    def __init__(self, *, routing_keys: set[str] | None = None) -> None:
        super().__init__()
        self.routing_keys = routing_keys
        self.alerts: list[Alert] = []

    def open_alerts(self) -> list[Alert]:
        """Alerts not resolved yet."""
        with self._lock:
            return [a for a in self.alerts if a.status != "resolved"]

    def handle(self, request: Recorded) -> Reply:
        if request.method != "POST" or request.path != "/v2/enqueue":
            return Reply(status=404, json={"status": "not found"})
        try:
            event = request.json
        except ValueError:
            return Reply(status=400, json={"status": "invalid event", "message": "Could not parse JSON"})
        errors = validate(event)
        if errors:
            return _invalid(*errors)
        if self.routing_keys is not None and event["routing_key"] not in self.routing_keys:
            return _invalid("Invalid routing key")
        with self._lock:
            dedup = self._apply(event)
        return Reply(status=202, json={"status": "success", "message": "Event processed", "dedup_key": dedup})

    def _apply(self, event: dict[str, Any]) -> str:
        routing, action = event["routing_key"], event["event_action"]
        dedup = event.get("dedup_key") or uuid.uuid4().hex
        current = next(
            (a for a in reversed(self.alerts) if (a.routing_key, a.dedup_key) == (routing, dedup)), None
        )
        if action == "trigger":
            if current is None or current.status == "resolved":
                payload = event["payload"]
                current = Alert(routing, dedup, summary=payload["summary"], severity=payload["severity"])
                self.alerts.append(current)
            current.events.append(event)
        elif current is not None and current.status != "resolved":
            current.status = "acknowledged" if action == "acknowledge" else "resolved"
            current.events.append(event)
        return str(dedup)
