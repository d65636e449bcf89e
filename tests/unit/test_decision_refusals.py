"""What a second decision is told, in every channel's words."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.plan.approvals import already_decided
from engine.plan.models import StepKind
from engine.plan.state import ApprovalRecord, Decision, StepRecord, StepStatus
from integrations.slack.blocks import refusal_text

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def decided(**approval: object) -> StepRecord:
    record = ApprovalRecord(
        title="t",
        approvers=["user:U1"],
        requested_at=T0,
        deadline=T0,
        decided_at=T0.replace(minute=20),
        **approval,
    )
    return StepRecord(
        path="approve",
        id="approve",
        kind=StepKind.APPROVAL,
        started_at=T0,
        approval=record,
        status=StepStatus.SUCCEEDED,
    )


def test_a_human_decision_names_who_when_and_where() -> None:
    text = already_decided(
        "approve", decided(decision=Decision.REJECT, decided_by="user:U7", decided_via="slack")
    )
    assert text == "approve was already rejected by user:U7 at 2026-11-20T08:20:00Z via slack"
    assert (
        refusal_text(text)
        == ":information_source: Already rejected by <@U7> at 2026-11-20 08:20 UTC; nothing changed."
    )


def test_a_timeout_says_nobody_decided_in_time() -> None:
    text = already_decided(
        "approve", decided(decision=Decision.APPROVE, decided_by="timeout", timed_out=True)
    )
    assert text == "approve was already approved at 2026-11-20T08:20:00Z: nobody decided before the deadline"
    assert refusal_text(text) == ":hourglass: This approval already timed out (approved); nothing changed."


def test_other_refusals_are_shown_escaped() -> None:
    assert refusal_text("user:U9 is not an approver of <approve>") == (
        ":no_entry_sign: Your decision was not recorded: user:U9 is not an approver of &lt;approve&gt;"
    )
