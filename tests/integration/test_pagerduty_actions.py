"""pagerduty.trigger / acknowledge / resolve against a fake Events API v2 on loopback."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from engine.sdk import ActionContext, ActionError
from integrations.elasticsearch.testing import action_context
from integrations.http.testing import invoke
from integrations.pagerduty import actions
from integrations.pagerduty.testing import FakePagerDuty
from tests.fixtures.pagerduty import ROUTING_KEY, pagerduty, pagerduty_context  # noqa: F401

pytestmark = pytest.mark.integration


def _fails(func: Any, ctx: ActionContext, **args: Any) -> ActionError:
    with pytest.raises(ActionError) as caught:
        invoke(func, ctx, **args)
    return caught.value


def test_trigger_pages_with_the_documented_event(pagerduty: FakePagerDuty) -> None:
    ctx = pagerduty_context(pagerduty, idempotency_key="run-1/page/0", run_id="run-1")
    out = invoke(
        actions.trigger,
        ctx,
        summary="fraud-scorer quarantined after model tampering",
        severity="critical",
        source="mlflow.internal",
        component="fraud-scorer",
        custom_details={"version": 7},
        links=[{"href": "https://fireline.example/runs/run-1", "text": "run"}],
    )
    assert out == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "run-1/page/0",
        "event_action": "trigger",
    }
    sent = pagerduty.calls("POST", "/v2/enqueue")[0].json
    assert sent["routing_key"] == ROUTING_KEY
    assert sent["event_action"] == "trigger"
    assert sent["payload"]["severity"] == "critical"
    assert sent["payload"]["component"] == "fraud-scorer"
    assert sent["payload"]["custom_details"] == {
        "version": 7,
        "fireline_run": "run-1",
        "fireline_step": "page",
    }
    assert sent["links"] == [{"href": "https://fireline.example/runs/run-1", "text": "run"}]
    assert [a.summary for a in pagerduty.open_alerts()] == ["fraud-scorer quarantined after model tampering"]
    assert ROUTING_KEY not in repr(out)


def test_a_retried_trigger_adds_to_the_same_alert(pagerduty: FakePagerDuty) -> None:
    ctx = pagerduty_context(pagerduty)
    first = invoke(actions.trigger, ctx, summary="abuse", severity="high")
    second = invoke(actions.trigger, ctx, summary="abuse", severity="high")
    assert first["dedup_key"] == second["dedup_key"]
    assert len(pagerduty.alerts) == 1
    assert len(pagerduty.alerts[0].events) == 2
    assert pagerduty.alerts[0].severity == "error"  # fireline's "high" in PagerDuty's terms


def test_an_explicit_incident_key_and_resolve_close_the_alert(pagerduty: FakePagerDuty) -> None:
    ctx = pagerduty_context(pagerduty)
    page = invoke(actions.trigger, ctx, summary="key leaked", dedup_key="incident-42")
    assert page["dedup_key"] == "incident-42"
    ack = invoke(actions.acknowledge, pagerduty_context(pagerduty, step_path="ack"), dedup_key="incident-42")
    assert ack["event_action"] == "acknowledge"
    assert pagerduty.alerts[0].status == "acknowledged"
    done = invoke(actions.resolve, pagerduty_context(pagerduty, step_path="close"), dedup_key="incident-42")
    assert (done["status"], done["dedup_key"], done["event_action"]) == ("success", "incident-42", "resolve")
    assert pagerduty.open_alerts() == []
    # Resolving again is accepted and changes nothing.
    assert invoke(actions.resolve, ctx, dedup_key="incident-42")["status"] == "success"
    assert len(pagerduty.alerts) == 1


def test_a_long_idempotency_key_becomes_a_valid_dedup_key(pagerduty: FakePagerDuty) -> None:
    ctx = pagerduty_context(pagerduty, idempotency_key="run/" + "x" * 400)
    out = invoke(actions.trigger, ctx, summary="s")
    assert out["dedup_key"].startswith("fireline-")
    assert len(out["dedup_key"]) <= 255


def test_a_summary_longer_than_pagerduty_accepts_is_cut(pagerduty: FakePagerDuty) -> None:
    invoke(actions.trigger, pagerduty_context(pagerduty), summary="A" * 5000)
    sent = pagerduty.requests[0].json["payload"]["summary"]
    assert len(sent) == 1024
    assert sent.endswith("…")


def test_an_unknown_routing_key_is_an_invalid_event(pagerduty: FakePagerDuty) -> None:
    error = _fails(actions.trigger, pagerduty_context(pagerduty, routing_key="R0WRONG"), summary="s")
    assert (error.type, error.retryable) == ("InvalidEvent", False)
    assert "Invalid routing key" in str(error)
    assert "R0WRONG" not in str(error)


@pytest.mark.parametrize(
    ("status", "kind"), [(429, "RateLimited"), (500, "Unavailable"), (502, "Unavailable")]
)
def test_rate_limits_and_outages_are_retried(pagerduty: FakePagerDuty, status: int, kind: str) -> None:
    pagerduty.fail(status, retry_after=60 if status == 429 else None)
    error = _fails(actions.trigger, pagerduty_context(pagerduty), summary="s")
    assert (error.type, error.retryable) == (kind, True)
    assert invoke(actions.trigger, pagerduty_context(pagerduty), summary="s")["status"] == "success"
    assert len(pagerduty.alerts) == 1


def test_bad_arguments_are_refused_before_sending() -> None:
    ctx = action_context(secrets={"PAGERDUTY_ROUTING_KEY": ROUTING_KEY})
    with pytest.raises(ValidationError):
        invoke(actions.trigger, ctx, summary="s", severity="apocalyptic")
    with pytest.raises(ValidationError):
        invoke(actions.trigger, ctx, summary="s", links=[{"href": "javascript:alert(1)"}])
    with pytest.raises(ValidationError):
        invoke(actions.resolve, ctx)


def test_the_class_field_is_sent_under_its_documented_name(pagerduty: FakePagerDuty) -> None:
    invoke(
        actions.trigger, pagerduty_context(pagerduty), summary="s", **{"class": "model abuse", "group": "ml"}
    )
    payload = pagerduty.requests[0].json["payload"]
    assert (payload["class"], payload["group"]) == ("model abuse", "ml")
