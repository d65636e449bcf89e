"""A run that continues as new at every parked moment ends exactly as one that never rolls over:
same calls, same notices (reminders not repeated), same timeline, one unbroken audit chain."""

from __future__ import annotations

from pathlib import Path

from engine.plan.audit import verify_chain
from engine.plan.state import RunState
from engine.rehearsal.simulated import SimulatedExecutor, simulate
from tests.rehearsal_cases import load_case

CASE = Path(__file__).parents[1] / "rehearsals" / "parked-for-weeks"


async def run(roll_over: bool) -> tuple[RunState, SimulatedExecutor]:
    case = load_case(CASE)
    mocks = case.mocks.model_copy(update={"continue_as_new": roll_over})
    return await simulate(case.plan, case.alert, mocks)


def timeline(state: RunState) -> list[tuple[object, ...]]:
    return [(r.path, r.status, r.started_at, r.finished_at) for r in state.steps]


async def test_rolling_over_changes_nothing_a_responder_sees() -> None:
    rolled, rolled_exec = await run(True)
    plain, plain_exec = await run(False)
    assert rolled.continuations >= 2 and plain.continuations == 0
    assert [(c.path, c.attempt) for c in rolled_exec.calls] == [(c.path, c.attempt) for c in plain_exec.calls]
    assert [(n.kind, n.step) for n in rolled_exec.notices] == [(n.kind, n.step) for n in plain_exec.notices]
    assert timeline(rolled) == timeline(plain)
    record = rolled.step("per_key[0].approve")
    assert record is not None and record.approval is not None
    approval = record.approval
    assert len(approval.reminded_at) == 1  # 30 d before the deadline; the decision came before 1 d
    assert rolled.outputs == plain.outputs == {"revoked": ["k-4821"], "approver": "user:U7"}


async def test_the_chain_stays_one_chain_across_roll_overs() -> None:
    state, executor = await run(True)
    events = [executor.audit[k] for k in sorted(executor.audit)]
    report = verify_chain("simulated-run", events)
    assert report.ok and report.forks == 0, report
    actions = [e.action for e in events]
    assert actions.count("run.started") == 1 and actions.count("run.finished") == 1
    assert actions.count("run.continued") == state.continuations
    assert actions.count("approval.requested") == 1 and actions.count("step.started") == 5
