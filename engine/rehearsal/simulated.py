"""Run a plan's conductor in plain asyncio with mocked actions and a simulated clock."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.errors import RehearsalError
from engine.plan.audit import AuditEvent
from engine.plan.checkpoint import AuditCursor
from engine.plan.conductor import ActionCall, ActionOutcome, ApprovalMock, Conductor, StepFailure
from engine.plan.inputs import resolve_inputs
from engine.plan.models import Plan
from engine.plan.notices import ApprovalNotice, MessageRef
from engine.plan.state import RunState
from engine.rehearsal.mock_activity import _MockedFailure, mocked_outcome
from engine.rehearsal.models import Mocks
from engine.templating import TemplateEngine

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
#: Asked when every task is blocked: the task of the run that replaced the current one, or None.
RollOver = Callable[[], Awaitable["asyncio.Task[Any] | None"]]


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
        #: While a rolled-over run is dropped: what it does on its way out is not recorded.
        self.silenced = False

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
        if self.silenced:
            return
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
        if not self.silenced:
            self.notices.append(notice)
        return []

    async def notify_later(self, notice: ApprovalNotice) -> None:
        await self.notify(notice)

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

    async def drive(self, main: asyncio.Task[Any], roll_over: RollOver | None = None) -> None:
        """Fire timers in time order whenever every task is blocked, until ``main`` ends.

        ``roll_over`` is asked once per blocked moment before the next timer fires; when it returns
        a task, that run replaced ``main`` (continued as new) and driving goes on with it.
        """
        rolled = False
        while not main.done():
            for _ in range(50):
                await asyncio.sleep(0)
                if main.done():
                    return
            if roll_over is not None and not rolled:
                rolled = True
                main = await roll_over() or main
                continue
            if not self._timers:
                continue
            rolled = False
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
    """Conduct ``plan`` without Temporal; returns the final state and the executor (calls, clock).

    With ``mocks.continue_as_new`` the run continues as new at every moment it is parked, the way
    the workflow does: a checkpoint, then a fresh conductor resumed from it.
    """
    engine = TemplateEngine()
    executor = SimulatedExecutor(plan, alert, mocks, engine)
    inputs = resolve_inputs(plan, alert, mocks.inputs, engine)

    def conductor_of(state: RunState, resume_from: AuditCursor | None = None) -> Conductor:
        return Conductor(
            plan,
            state,
            alert=alert,
            inputs=inputs,
            executor=executor,
            engine=engine,
            approval_mocks=_approval_mocks(mocks),
            resume_from=resume_from,
        )

    run = _Rollable(executor, conductor_of(_new_state(plan, executor.now(), "simulated-run")), conductor_of)
    await executor.drive(run.task, run.roll_over if mocks.continue_as_new else None)
    if run.task.exception() is not None:
        raise RehearsalError(f"simulation crashed: {run.task.exception()!r}")
    return run.task.result(), executor


class _Rollable:
    """The simulated run's current conductor and task; :meth:`roll_over` replaces both."""

    def __init__(
        self,
        executor: SimulatedExecutor,
        first: Conductor,
        conductor_of: Callable[[RunState, AuditCursor], Conductor],
    ) -> None:
        self.executor = executor
        self.conductor_of = conductor_of
        self.conductor = first
        self.task: asyncio.Task[RunState] = asyncio.ensure_future(first.run())

    async def roll_over(self) -> asyncio.Task[RunState] | None:
        """Continue as new when parked: the old task is dropped, as a closed Temporal run is."""
        if not self.conductor.resumable():
            return None
        # A copy, as the workflow's checkpoint is serialised: the dropped task cannot touch it.
        checkpoint = self.conductor.checkpoint().model_copy(deep=True)
        self.executor.silenced = True  # its cancellation must leave no trace, as a closed run leaves none
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.executor.silenced = False
        state = checkpoint.state
        state.continuations += 1
        self.conductor = self.conductor_of(state, checkpoint.audit)
        self.conductor.record_event(
            "run.continued", detail={"from_run": "simulated", "n": state.continuations}
        )
        self.task = asyncio.ensure_future(self.conductor.run())
        return self.task
