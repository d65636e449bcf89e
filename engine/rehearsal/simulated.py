"""Run a plan's conductor in plain asyncio with mocked actions and a simulated clock."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.errors import RehearsalError
from engine.plan.audit import AuditEvent
from engine.plan.conductor import ActionCall, ActionOutcome, ApprovalMock, Conductor, StepFailure
from engine.plan.inputs import resolve_inputs
from engine.plan.models import Plan
from engine.plan.notices import ApprovalNotice, MessageRef
from engine.plan.state import RunState
from engine.rehearsal.mock_activity import _MockedFailure, mocked_outcome
from engine.rehearsal.models import Mocks
from engine.templating import TemplateEngine

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class SimulatedExecutor:
    """Executor with mocked actions and virtual time; timers fire when every task is blocked."""

    def __init__(self, plan: Plan, alert: dict[str, Any], mocks: Mocks, engine: TemplateEngine) -> None:
        self.plan = plan
        self.alert = alert
        self.mocks = mocks
        self.engine = engine
        self.clock = 0.0
        self.calls: list[ActionCall] = []
        self.notices: list[ApprovalNotice] = []
        self.audit: dict[tuple[str, int], AuditEvent] = {}
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return EPOCH + timedelta(seconds=self.clock)

    async def run_action(self, call: ActionCall) -> ActionOutcome:
        self.calls.append(call)
        await asyncio.sleep(0)
        self._store(call.audit)
        try:
            return ActionOutcome(mocked_outcome(self.mocks, call.path, call.attempt), audit_stored=True)
        except _MockedFailure as exc:
            raise StepFailure(str(exc), type=exc.type, retryable=exc.retryable) from None

    def _store(self, events: list[AuditEvent]) -> None:
        for event in events:
            self.audit[(event.run_id, event.seq)] = event

    async def store_audit(self, events: list[AuditEvent]) -> bool:
        self._store(events)
        return True

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.clock + seconds, next(self._order), future))
        await future

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        # Only scripted decisions exist here, and the conductor applies them after this returns.
        if not predicate() and timeout_s > 0:
            await self.sleep(timeout_s)
        return predicate()

    async def notify(self, notice: ApprovalNotice) -> list[MessageRef]:
        self.notices.append(notice)
        return []

    async def notify_later(self, notice: ApprovalNotice) -> None:
        self.notices.append(notice)

    async def drain(self) -> None:
        return None

    async def run_child(self, path: str, playbook: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        plan = self.plan.subplans.get(playbook)
        if plan is None:
            raise StepFailure(f"no subplan {playbook!r}", type="NotFound", retryable=False)
        plan = plan.model_copy(update={"subplans": self.plan.subplans})
        state = _new_state(plan, self.now(), f"child-{path}")
        child = Conductor(
            plan,
            state,
            alert=self.alert,
            inputs=resolve_inputs(plan, self.alert, inputs, self.engine),
            executor=self,
            engine=self.engine,
            approval_mocks=_approval_mocks(self.mocks),
            path_prefix=f"{path}.",
        )
        await child.run()
        if state.status.value != "succeeded":
            raise StepFailure(f"{playbook} {state.status.value}", type="ChildFailed", retryable=False)
        return state.run_id, state.outputs

    async def drive(self, main: asyncio.Task[Any]) -> None:
        """Fire timers in time order whenever every task is blocked, until ``main`` ends."""
        while not main.done():
            for _ in range(50):
                await asyncio.sleep(0)
                if main.done():
                    return
            if not self._timers:
                continue
            when, _, future = heapq.heappop(self._timers)
            self.clock = max(self.clock, when)
            if not future.done():
                future.set_result(None)


def _new_state(plan: Plan, started: datetime, run_id: str) -> RunState:
    return RunState(
        run_id=run_id, playbook=plan.name, version=plan.version, sha256=plan.sha256, started_at=started
    )


def _approval_mocks(mocks: Mocks) -> dict[str, ApprovalMock]:
    return {
        path: ApprovalMock(decision=s.decision, by=s.by, after_s=s.after_s, reason=s.reason, edits=s.edits)
        for path, s in mocks.scripts().items()
    }


async def simulate(plan: Plan, alert: dict[str, Any], mocks: Mocks) -> tuple[RunState, SimulatedExecutor]:
    """Conduct ``plan`` without Temporal; returns the final state and the executor (calls, clock)."""
    engine = TemplateEngine()
    executor = SimulatedExecutor(plan, alert, mocks, engine)
    state = _new_state(plan, executor.now(), "simulated-run")
    conductor = Conductor(
        plan,
        state,
        alert=alert,
        inputs=resolve_inputs(plan, alert, mocks.inputs, engine),
        executor=executor,
        engine=engine,
        approval_mocks=_approval_mocks(mocks),
    )
    task = asyncio.ensure_future(conductor.run())
    await executor.drive(task)
    if task.exception() is not None:
        raise RehearsalError(f"simulation crashed: {task.exception()!r}")
    return task.result(), executor
