"""Recorded histories of real runs replay against the current workflow code.

A change that would break incidents in flight (non-determinism) fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker

from engine import client as fl
from engine.plan.state import Decision
from engine.worker import workflow_runner
from engine.workflows.playbook_run import PlaybookRun
from engine.workflows.types import FEATURES_PATCH, NOTIFY_ACTIVITY
from tests.workflow.test_playbook_run import APPROVAL_PLAYBOOK, alert, plan_of, wait_for

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    replayer = Replayer(
        workflows=[PlaybookRun], workflow_runner=workflow_runner(), data_converter=pydantic_data_converter
    )
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def test_there_are_histories_to_replay() -> None:
    assert len(HISTORIES) >= 2


async def test_a_new_run_records_one_patch_marker_for_every_covered_patch(
    client: Client, task_queue: str, worker: Worker
) -> None:
    run = await fl.start_run(client, plan_of(APPROVAL_PLAYBOOK), alert(), {}, task_queue=task_queue)
    await wait_for(client, run.run_id, lambda s: s.pending_approvals())
    await fl.decide(client, run.run_id, "approve", Decision.APPROVE, "user:U1")
    await client.get_workflow_handle(run.run_id).result()
    history = await client.get_workflow_handle(run.run_id).fetch_history()
    markers = [
        e.marker_recorded_event_attributes
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
    ]
    patch_ids = [
        pydantic_data_converter.payload_converter.from_payload(m.details["patch-data"].payloads[0])["id"]
        for m in markers
    ]
    # Notices, the lean memo and continue-as-new all apply, with one marker and one visibility write.
    assert patch_ids == [FEATURES_PATCH]
    upserts = [e for e in history.events if e.HasField("upsert_workflow_search_attributes_event_attributes")]
    assert len(upserts) == 1
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert NOTIFY_ACTIVITY in scheduled  # the approval notice went out: its patch applies
    memo_writes = [e for e in history.events if e.HasField("workflow_properties_modified_event_attributes")]
    assert len(memo_writes) == 1  # lean memo: the run only writes its final status
