"""A Temporal server restart (SQLite on disk) while 100 runs wait for approval loses none of them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from engine import client as fl
from engine.activities.run_action import ActionRunner
from engine.plan.state import Decision, RunStatus
from engine.stack.processes import free_port, temporal_dev_server
from engine.worker import build_worker
from tests.fixtures.actions import TEST_REGISTRY
from tests.workflow.test_playbook_run import APPROVAL_PLAYBOOK, alert, plan_of

RUNS = 100


async def connect(address: str) -> Client:
    deadline = time.monotonic() + 30
    while True:
        try:
            return await Client.connect(address, data_converter=pydantic_data_converter)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def all_pending(client: Client, run_ids: list[str]) -> list[str]:
    states = await asyncio.gather(*(fl.status(client, r) for r in run_ids))
    return [s.run_id for s in states if s.pending_approvals()]


async def test_hundred_waiting_runs_survive_a_server_restart(tmp_path: Path) -> None:
    port, ui = free_port(), free_port()
    server = temporal_dev_server(tmp_path, port=port, ui_port=ui).start()
    address = f"127.0.0.1:{port}"
    plan = plan_of(APPROVAL_PLAYBOOK)
    try:
        client = await connect(address)
        async with build_worker(client, "restart", runner=ActionRunner(TEST_REGISTRY)):
            started = await asyncio.gather(
                *(fl.start_run(client, plan, alert(), {}, task_queue="restart") for _ in range(RUNS))
            )
            run_ids = [s.run_id for s in started]
            for _ in range(300):
                if len(await all_pending(client, run_ids)) == RUNS:
                    break
                await asyncio.sleep(0.2)
            assert len(await all_pending(client, run_ids)) == RUNS

        server.stop()  # SIGTERM: the server goes away with 100 runs open
        server = temporal_dev_server(tmp_path, port=port, ui_port=ui).start()

        client = await connect(address)
        async with build_worker(client, "restart", runner=ActionRunner(TEST_REGISTRY)):
            assert sorted(await all_pending(client, run_ids)) == sorted(run_ids)
            await asyncio.gather(
                *(fl.decide(client, r, "approve", Decision.APPROVE, "user:U1") for r in run_ids)
            )
            await asyncio.gather(*(client.get_workflow_handle(r).result() for r in run_ids))
            finals = await asyncio.gather(*(fl.status(client, r) for r in run_ids))
        assert {f.status for f in finals} == {RunStatus.SUCCEEDED}
        assert all(f.step("quarantine").status.value == "succeeded" for f in finals)  # type: ignore[union-attr]
    finally:
        server.stop()
