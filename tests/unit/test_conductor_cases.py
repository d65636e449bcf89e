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


BOUNDED_LOOP = """\
apiVersion: fireline/v1
kind: Playbook
metadata: { name: bounded-loop, version: 1 }
steps:
  - id: revoke_keys
    for_each: "{{ alert.entities.api_keys }}"
    as: key_id
    max_parallel: 2
    steps:
      - id: revoke
        uses: core.echo
        with: { message: "{{ key_id }}" }
"""


async def test_max_parallel_bounds_concurrency() -> None:
    """Five keys, two at a time, each revocation taking a minute: three minutes, never three at once."""
    import asyncio

    from engine.plan.compile import compile_plan
    from engine.plan.conductor import ActionCall, ActionOutcome, Conductor
    from engine.plan.state import RunState
    from engine.rehearsal.models import Mocks
    from engine.rehearsal.simulated import EPOCH, SimulatedExecutor
    from engine.spec.catalog import validate_text
    from engine.templating import TemplateEngine

    class MinuteLongActions(SimulatedExecutor):
        in_flight = peak = 0

        async def run_action(self, call: ActionCall) -> ActionOutcome:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            try:
                await self.sleep(60)
                return await super().run_action(call)
            finally:
                self.in_flight -= 1

    plan = compile_plan(validate_text(BOUNDED_LOOP, "bounded-loop.yaml"))
    alert = {"id": "a-1", "title": "five leaked keys", "entities": {"api_keys": [f"k{i}" for i in range(5)]}}
    mocks = Mocks.model_validate({"actions": {"revoke_keys.revoke": {"output": {"revoked": True}}}})
    engine = TemplateEngine()
    executor = MinuteLongActions(plan, alert, mocks, engine)
    state = RunState(run_id="r", playbook=plan.name, version=1, sha256="x", started_at=EPOCH)
    conductor = Conductor(plan, state, alert=alert, inputs={}, executor=executor, engine=engine)

    await executor.drive(asyncio.ensure_future(conductor.run()))

    assert state.status is RunStatus.SUCCEEDED, state.failure
    assert sorted(c.args["message"] for c in executor.calls) == ["k0", "k1", "k2", "k3", "k4"]
    assert executor.peak == 2  # the bound was reached and never exceeded
    loop = state.step("revoke_keys")
    assert loop is not None and loop.finished_at is not None
    assert (loop.finished_at - loop.started_at).total_seconds() == pytest.approx(180)  # 2 + 2 + 1


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
    with pytest.raises(
        ApprovalRefused, match=r"approve was already approved by user:U1 at 2026-01-01T00:00:00Z via cli"
    ):
        conductor.decide("approve", "user:U1", ["ml-oncall"], Decision.APPROVE, "")
    await executor.drive(task)
    assert state.step("quarantine").status is StepStatus.SUCCEEDED  # type: ignore[union-attr]
