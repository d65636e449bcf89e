"""data-breach-notification keeps the law's clocks: over a 72-hour run on the time-skipping server,
reminders fire 24 h and 6 h before the GDPR deadline, the last one escalates, and a missed deadline pages."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from engine.plan.compile import compile_plan
from engine.plan.state import StepRecord, StepStatus
from engine.rehearsal.models import Mocks
from engine.rehearsal.runner import rehearse
from engine.spec.catalog import load_catalog

PLAYBOOKS = Path(__file__).parents[2] / "playbooks"
MOCKS = {
    "actions": {
        "notify_authority": {"output": {"message_id": "m1", "subject": "s"}},
        "authority_evidence": {"output": {"id": "e1"}},
        "late": {"output": {"dedup_key": "late-1"}},
        "notify_subjects": {"output": {"message_id": "m2", "subject": "s"}},
        "review.compile": {"output": {"review_id": "r", "markdown_path": "r.md", "summary": "ok"}},
    },
    "approvals": {"authority_approval": {"decision": "none"}, "subjects_approval": {"decision": "none"}},
    "inputs": {"records": 1200},
}


def near(moment: datetime | None, expected: datetime) -> bool:
    return moment is not None and abs((moment - expected).total_seconds()) < 2


async def test_gdpr_reminders_escalation_and_missed_deadline(skipping_env: WorkflowEnvironment) -> None:
    aware = await skipping_env.get_current_time()
    catalog = load_catalog([PLAYBOOKS])
    plan = compile_plan(catalog.get("data-breach-notification"), catalog)
    alert = json.loads(
        (Path(__file__).parents[1] / "rehearsals" / "shipped-quarantine" / "alert.json").read_text()
    )
    mocks = Mocks.model_validate({**MOCKS, "inputs": {**MOCKS["inputs"], "aware_at": aware.isoformat()}})

    report = await rehearse(plan, alert, mocks, env=skipping_env)
    state = report.state
    authority: StepRecord = state.step("authority_approval")  # type: ignore[assignment]
    approval = authority.approval
    assert approval is not None and authority.status is StepStatus.TIMED_OUT
    deadline = aware + timedelta(hours=72)
    assert near(approval.deadline, deadline)
    assert [
        near(r, deadline - timedelta(hours=h)) for h, r in zip((24, 6), approval.reminded_at, strict=True)
    ] == [
        True,
        True,
    ]
    assert near(approval.escalated_at, deadline - timedelta(hours=6))
    assert "group:ciso" in approval.approvers
    assert near(approval.decided_at, deadline) and approval.decided_by == "timeout"

    assert state.step("notify_authority").status is StepStatus.SKIPPED  # type: ignore[union-attr]
    late = state.step("late")
    assert late is not None and late.status is StepStatus.SUCCEEDED and near(late.started_at, deadline)

    subjects = state.step("subjects_approval")
    assert subjects is not None and subjects.approval is not None
    asked = subjects.approval.requested_at
    assert [near(r, asked + timedelta(hours=18)) for r in subjects.approval.reminded_at] == [True]
    assert state.outputs == {"authority_notified": False, "subjects_notified": False}
