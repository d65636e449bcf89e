"""The conductor, without Temporal: every YAML rehearsal case runs to its expected result."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ApprovalRefused
from engine.plan.state import Decision, RunStatus, StepStatus
from engine.rehearsal.compare import differences
from engine.rehearsal.simulated import simulate
from tests.rehearsal_cases import CASE_DIRS, load_case


@pytest.mark.parametrize("folder", CASE_DIRS, ids=[p.name for p in CASE_DIRS])
async def test_case_matches_expectations(folder: Path) -> None:
    case = load_case(folder)
    state, _ = await simulate(case.plan, case.alert, case.mocks)
    assert differences(state, case.expect) == []


async def test_idempotency_keys_are_stable_across_attempts_and_unique_per_item() -> None:
    case = load_case(Path(__file__).parent.parent / "rehearsals" / "contain-with-retries")
    _, executor = await simulate(case.plan, case.alert, case.mocks)
    keys = {(c.path, c.attempt): c.idempotency_key for c in executor.calls}
    assert keys[("notify", 1)] == keys[("notify", 2)]
    item_keys = {keys[(f"revoke_keys[{i}].revoke", 1)] for i in range(3)}
    assert len(item_keys) == 3


async def test_retry_waits_follow_the_policy_in_simulated_time() -> None:
    case = load_case(Path(__file__).parent.parent / "rehearsals" / "contain-with-retries")
    state, _ = await simulate(case.plan, case.alert, case.mocks)
    notify = state.step("notify")
    assert notify is not None
    first, second = notify.attempts
    assert first.error_type == "Timeout"
    assert (second.started_at - first.started_at).total_seconds() == pytest.approx(10.0)
    approve = state.step("approve")
    assert approve is not None and approve.approval is not None
    assert (approve.approval.decided_at - approve.approval.requested_at).total_seconds() == pytest.approx(300)


async def test_max_parallel_bounds_concurrency() -> None:
    case = load_case(Path(__file__).parent.parent / "rehearsals" / "contain-with-retries")
    running = 0
    peak = 0
    original = None

    state, executor = await simulate(case.plan, case.alert, case.mocks)
    # every item ran; with max_parallel 2 the loop never had more than 2 in flight
    starts = sorted((r.started_at, r.finished_at) for r in state.steps if r.path.startswith("revoke_keys["))
    for start, _ in starts:
        running = sum(1 for s, f in starts if s <= start and (f is None or f > start))
        peak = max(peak, running)
    assert peak <= 2 and len(starts) == 3 and original is None
    assert executor.clock > 0


async def test_escalation_widens_approvers_then_times_out() -> None:
    case = load_case(Path(__file__).parent.parent / "rehearsals" / "breach-deadline")
    state, _ = await simulate(case.plan, case.alert, case.mocks)
    review = state.step("dpo_review")
    assert review is not None and review.approval is not None
    assert review.status is StepStatus.TIMED_OUT
    assert "group:security-leads" in review.approval.approvers
    waited = (review.approval.decided_at - review.approval.requested_at).total_seconds()  # type: ignore[operator]
    assert waited == pytest.approx(8 * 3600)
    assert state.status is RunStatus.SUCCEEDED


async def test_decision_checks() -> None:
    """Only a pending approval, only by an approver, once, and rejections need a reason."""
    from engine.plan.conductor import Conductor
    from engine.plan.state import RunState
    from engine.rehearsal.simulated import EPOCH, SimulatedExecutor
    from engine.templating import TemplateEngine

    case = load_case(Path(__file__).parent.parent / "rehearsals" / "rejected-approval")
    engine = TemplateEngine()
    executor = SimulatedExecutor(case.plan, case.alert, case.mocks, engine)
    state = RunState(run_id="r", playbook="p", version=1, sha256="x", started_at=EPOCH)
    conductor = Conductor(case.plan, state, alert=case.alert, inputs={}, executor=executor, engine=engine)
    import asyncio

    task = asyncio.ensure_future(conductor.run())
    for _ in range(20):
        await asyncio.sleep(0)
    assert [r.path for r in state.pending_approvals()] == ["approve"]
    with pytest.raises(ApprovalRefused, match="not an approver"):
        conductor.decide("approve", "user:mallory", [], Decision.APPROVE, "")
    with pytest.raises(ApprovalRefused, match="needs a reason"):
        conductor.decide("approve", "user:U1", ["ml-oncall"], Decision.REJECT, " ")
    with pytest.raises(ApprovalRefused, match="no approval step"):
        conductor.decide("quarantine", "user:U1", ["ml-oncall"], Decision.APPROVE, "")
    conductor.decide("approve", "user:U1", ["ml-oncall"], Decision.APPROVE, "")
    with pytest.raises(ApprovalRefused, match="not waiting"):
        conductor.decide("approve", "user:U1", ["ml-oncall"], Decision.APPROVE, "")
    await executor.drive(task)
    assert state.step("quarantine").status is StepStatus.SUCCEEDED  # type: ignore[union-attr]
