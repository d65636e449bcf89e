"""One run of each kind, engine or hand-written, timed from the client's side."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from temporalio.client import Client

from bench import baseline
from bench.actions import MARKS, bench_alert
from engine import client as fl
from engine.plan.models import Plan
from engine.plan.state import Decision, RunState

RunOnce = Callable[[], Awaitable[float]]
ALERT = bench_alert()
INCIDENT = baseline.Incident(title=str(ALERT["title"]), model=ALERT["entities"]["models"][0])


async def engine_five(client: Client, plan: Plan, queue: str) -> float:
    """Start the 5-step playbook for a fresh alert and wait for its result; seconds."""
    alert = bench_alert()
    started = time.perf_counter()
    run = await fl.start_run(client, plan, alert, {}, task_queue=queue)
    state = await client.get_workflow_handle(run.run_id, result_type=RunState).result()
    elapsed = time.perf_counter() - started
    if state.status.value != "succeeded":
        raise RuntimeError(f"engine run {run.run_id} ended {state.status.value}: {state.failure}")
    return elapsed


async def baseline_five(client: Client, queue: str) -> float:
    """Start the hand-written 5-activity workflow and wait for its result; seconds."""
    started = time.perf_counter()
    handle = await client.start_workflow(
        baseline.FiveSteps.run, INCIDENT, id=f"bl-{uuid.uuid4().hex}", task_queue=queue
    )
    await handle.result()
    return time.perf_counter() - started


async def _request_out(client: Client, workflow_id: str, deadline: float) -> None:
    """Wait until nothing the run started is still in flight (the engine's approval notice).

    A responder decides after the request reached them, so the decision is timed from there on
    both sides; the hand-written workflow has nothing in flight by then.
    """
    handle = client.get_workflow_handle(workflow_id)
    while (await handle.describe()).raw_description.pending_activities:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{workflow_id}: its approval request never went out")
        await asyncio.sleep(0.01)


async def wait_parked_engine(client: Client, run_id: str, within_s: float = 60) -> None:
    """Poll the pending-approvals query until the run waits on its approval and its request is out."""
    deadline = time.monotonic() + within_s
    while not await fl.pending_approvals(client, run_id):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{run_id} did not reach its approval")
        await asyncio.sleep(0.01)
    await _request_out(client, run_id, deadline)


async def wait_parked_baseline(client: Client, workflow_id: str, within_s: float = 60) -> None:
    """Poll the ``waiting`` query until the workflow waits on its Update (then as the engine)."""
    handle = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + within_s
    while not await handle.query(baseline.Approval.is_waiting):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{workflow_id} did not reach its approval")
        await asyncio.sleep(0.01)
    await _request_out(client, workflow_id, deadline)


async def start_engine_approval(client: Client, plan: Plan, queue: str) -> str:
    """Start the approval playbook; returns its run id."""
    return (await fl.start_run(client, plan, bench_alert(), {}, task_queue=queue)).run_id


async def start_baseline_approval(client: Client, queue: str) -> str:
    """Start the hand-written approval workflow; returns its workflow id."""
    workflow_id = f"bl-approval-{uuid.uuid4().hex}"
    await client.start_workflow(baseline.Approval.run, INCIDENT, id=workflow_id, task_queue=queue)
    return workflow_id


async def engine_decide(client: Client, run_id: str) -> None:
    """Approve through the engine's client (the ``decide`` Update and its validator)."""
    await fl.decide(client, run_id, "approve", Decision.APPROVE, "user:bench")


async def baseline_decide(client: Client, workflow_id: str) -> None:
    """Approve through the hand-written Update."""
    await client.get_workflow_handle(workflow_id).execute_update(
        baseline.Approval.decide, baseline.DecisionIn(approve=True, by="user:bench")
    )


async def engine_approval(client: Client, plan: Plan, queue: str) -> tuple[float, float]:
    """Decision → next step's activity started, and the Update's own round trip; seconds."""
    run_id = await start_engine_approval(client, plan, queue)
    await wait_parked_engine(client, run_id)
    started = time.perf_counter()
    await engine_decide(client, run_id)
    answered = time.perf_counter() - started
    await client.get_workflow_handle(run_id, result_type=RunState).result()
    return MARKS.pop(run_id) - started, answered


async def baseline_approval(client: Client, queue: str) -> tuple[float, float]:
    """The same measurement for the hand-written workflow."""
    workflow_id = await start_baseline_approval(client, queue)
    await wait_parked_baseline(client, workflow_id)
    started = time.perf_counter()
    await baseline_decide(client, workflow_id)
    answered = time.perf_counter() - started
    await client.get_workflow_handle(workflow_id).result()
    return baseline.MARKS.pop(workflow_id) - started, answered


async def run_many(once: RunOnce, total: int, in_flight: int) -> float:
    """Run ``total`` runs with at most ``in_flight`` at a time; wall seconds."""
    gate = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with gate:
            await once()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(total)))
    return time.perf_counter() - started
