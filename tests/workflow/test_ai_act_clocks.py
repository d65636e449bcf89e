"""eu-ai-act-serious-incident keeps the Art. 73 clocks on the time-skipping server: 15 days from
awareness with reminders 5 d, 2 d, 24 h and 6 h before (the last escalates) and a page when missed;
10 days after a death, 2 days for critical infrastructure; initial report, then the complete one."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from engine.plan.compile import compile_plan
from engine.plan.state import ApprovalRecord, RunState, StepStatus
from engine.rehearsal.models import Mocks
from engine.rehearsal.runner import rehearse
from engine.spec.catalog import load_catalog

PLAYBOOKS = Path(__file__).parents[2] / "playbooks"
ALERT = json.loads((Path(__file__).parents[1] / "rehearsals" / "shipped-ai-act" / "alert.json").read_text())


def mocks(aware: datetime, harms: list[str], approvals: dict[str, Any], sent_at: str = "") -> Mocks:
    sent = {"message_id": "<m1@fireline>", "subject": "s", "accepted": ["a"], "sent_at": sent_at}
    return Mocks.model_validate(
        {
            "inputs": {"aware_at": aware.isoformat(), "harms": harms},
            "actions": {
                "send_initial": {"output": sent},
                "late": {"output": {"dedup_key": "late-1"}},
                "initial_evidence": {"output": {"id": "e1", "result": "created"}},
                "send_complete": {"output": {**sent, "message_id": "<m2@fireline>"}},
                "complete_evidence": {"output": {"id": "e2", "result": "created"}},
                "review.compile": {"output": {"review_id": "r", "markdown_path": "r.md", "summary": "ok"}},
            },
            "approvals": approvals,
        }
    )


def near(moment: datetime | None, expected: datetime) -> bool:
    return moment is not None and abs((moment - expected).total_seconds()) < 2


async def run(
    env: WorkflowEnvironment, harms: list[str], approvals: dict[str, Any], **kw: str
) -> tuple[datetime, RunState]:
    aware = await env.get_current_time()
    catalog = load_catalog([PLAYBOOKS])
    plan = compile_plan(catalog.get("eu-ai-act-serious-incident"), catalog)
    report = await rehearse(plan, ALERT, mocks(aware, harms, approvals, **kw), env=env)
    return aware, report.state


def initial(state: RunState) -> ApprovalRecord:
    record = state.step("initial_approval")
    assert record is not None and record.approval is not None
    return record.approval


async def test_fifteen_day_clock_reminds_escalates_and_pages_when_missed(
    skipping_env: WorkflowEnvironment,
) -> None:
    nobody = {"initial_approval": {"decision": "none"}}
    aware, state = await run(skipping_env, ["health"], nobody)
    approval = initial(state)
    deadline = aware + timedelta(days=15)
    assert near(approval.deadline, deadline)
    before = [timedelta(days=5), timedelta(days=2), timedelta(hours=24), timedelta(hours=6)]
    assert len(approval.reminded_at) == 4
    assert all(near(r, deadline - b) for r, b in zip(approval.reminded_at, before, strict=True))
    assert near(approval.escalated_at, deadline - timedelta(hours=6)) and "group:ciso" in approval.approvers
    assert approval.timed_out and near(approval.decided_at, deadline)
    assert state.step("send_initial").status is StepStatus.SKIPPED  # type: ignore[union-attr]
    late = state.step("late")
    assert late is not None and late.status is StepStatus.SUCCEEDED and near(late.started_at, deadline)
    assert state.step("initial_evidence").status is StepStatus.SUCCEEDED  # type: ignore[union-attr]
    assert state.step("follow_up_approval").status is StepStatus.SKIPPED  # type: ignore[union-attr]
    assert state.failure is None, state.failure
    assert state.outputs == {
        "regime": "art73(2)",
        "deadline": deadline.isoformat().replace("+00:00", "Z"),
        "initial_reported": False,
        "deadline_met": False,
        "complete_reported": False,
    }


async def test_a_death_uses_ten_days_and_the_complete_report_follows(
    skipping_env: WorkflowEnvironment,
) -> None:
    approvals = {
        "initial_approval": {"decision": "approve", "by": "user:counsel", "after": "6d"},
        "follow_up_approval": {"decision": "approve", "by": "user:counsel", "after": "7d"},
    }
    start = await skipping_env.get_current_time()
    sent_at = (start + timedelta(days=6)).isoformat()
    aware, state = await run(skipping_env, ["death", "health"], approvals, sent_at=sent_at)
    approval = initial(state)
    deadline = aware + timedelta(days=10)
    assert near(approval.deadline, deadline) and approval.decided_by == "user:counsel"
    assert len(approval.reminded_at) == 1 and near(approval.reminded_at[0], deadline - timedelta(days=5))
    assert approval.escalated_at is None  # decided before the last reminder
    follow_up = state.step("follow_up_approval")
    assert follow_up is not None and follow_up.approval is not None
    assert near(follow_up.approval.requested_at, aware + timedelta(days=6))
    assert state.step("send_complete").status is StepStatus.SUCCEEDED  # type: ignore[union-attr]
    assert state.step("complete_evidence").status is StepStatus.SUCCEEDED  # type: ignore[union-attr]
    assert state.outputs["regime"] == "art73(4)" and state.outputs["deadline_met"] is True
    assert state.outputs["initial_reported"] is True and state.outputs["complete_reported"] is True


async def test_critical_infrastructure_uses_two_days(skipping_env: WorkflowEnvironment) -> None:
    nobody = {"initial_approval": {"decision": "none"}}
    aware, state = await run(skipping_env, ["critical_infrastructure", "death"], nobody)
    approval = initial(state)
    deadline = aware + timedelta(days=2)
    assert near(approval.deadline, deadline) and near(approval.decided_at, deadline)
    # 5 d and 2 d before would be before awareness: only the 24 h and 6 h reminders fire
    assert [
        near(r, deadline - timedelta(hours=h)) for h, r in zip((24, 6), approval.reminded_at, strict=True)
    ] == [
        True,
        True,
    ]
    assert near(approval.escalated_at, deadline - timedelta(hours=6))
    assert state.outputs["regime"] == "art73(3)" and state.outputs["deadline_met"] is False
