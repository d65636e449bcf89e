"""A run that continues as new at every parked moment ends exactly as one that never rolls over:
same calls, same notices (reminders not repeated), same timeline, one unbroken audit chain."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.plan.audit import verify_chain
from engine.plan.checkpoint import AuditCursor
from engine.plan.conductor import Conductor
from engine.plan.inputs import resolve_inputs
from engine.plan.state import Decision, RunState, RunStatus, StepStatus
from engine.rehearsal.simulated import SimulatedExecutor, simulate
from engine.templating import TemplateEngine
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


@dataclass
class Rolled:
    """The run the test drives: its current conductor and task."""

    conductor: Conductor
    task: asyncio.Task[RunState]
    decided_at: datetime | None = None


async def test_a_decision_taken_before_the_new_run_reaches_its_approval_is_acted_on() -> None:
    """The server hands an update sent during the roll-over to the next run, which may take it
    before its walk through the plan reaches the approval: it must count, not be lost or refused."""
    case = load_case(CASE)
    mocks = case.mocks.model_copy(update={"approvals": {}})  # nobody answers by script
    engine = TemplateEngine()
    executor = SimulatedExecutor(case.plan, case.alert, mocks, engine)

    def conductor_of(state: RunState, cursor: AuditCursor | None = None) -> Conductor:
        inputs = resolve_inputs(case.plan, case.alert, mocks.inputs, engine)
        return Conductor(
            case.plan, state, alert=case.alert, inputs=inputs, executor=executor, engine=engine,
            resume_from=cursor,
        )  # fmt: skip

    first = conductor_of(RunState(run_id="r", playbook="p", version=1, sha256="s", started_at=executor.now()))
    run = Rolled(first, asyncio.ensure_future(first.run()))

    async def roll_over_with_a_decision() -> asyncio.Task[Any] | None:
        if run.conductor is not first or not first.state.pending_approvals() or not first.resumable():
            return None
        checkpoint = first.checkpoint().model_copy(deep=True)
        run.task.cancel()
        resumed = conductor_of(checkpoint.state, checkpoint.audit)
        run.decided_at = executor.now()
        resumed.decide("per_key[0].approve", "user:U9", ["security"], Decision.APPROVE, "go", via="slack")
        run.conductor, run.task = resumed, asyncio.ensure_future(resumed.run())
        return run.task

    await executor.drive(run.task, roll_over_with_a_decision)
    state = run.task.result()
    assert run.conductor is not first, "the run never parked on its approval"
    record = state.step("per_key[0].approve")
    assert record is not None and record.status is StepStatus.SUCCEEDED and record.approval is not None
    assert record.approval.decided_by == "user:U9" and record.approval.decided_at == run.decided_at
    assert state.status is RunStatus.SUCCEEDED, state.failure
    assert state.outputs == {"revoked": ["k-4821"], "approver": "user:U9"}
