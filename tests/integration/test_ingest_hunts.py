"""Scheduled hunts: Temporal Schedules kept in step with the catalog, listed, paused, triggered."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import Client

from engine.alerts.model import AlertSource
from engine.client import status
from engine.ingest.hunts import (
    HuntNotFound,
    list_hunt_schedules,
    pause_hunt,
    sync_hunt_schedules,
    trigger_hunt,
    unpause_hunt,
)
from tests.fixtures.ingest import playbook_yaml, running_worker, unique, write_catalog

pytestmark = pytest.mark.integration

HUNT_STEPS = """
- id: search
  uses: core.echo
  with: {message: "hunt {{ alert.rule }} from {{ alert.source }}"}
"""


async def test_hunts_are_synced_listed_paused_and_triggered(
    tmp_path: Path, client: Client, task_queue: str
) -> None:
    name = unique("token-hunt")
    hunt = playbook_yaml(name, "schedule: '0 * * * *'", HUNT_STEPS)
    other = playbook_yaml(unique("alert-only"), "any: [{source: generic, match: {rule: x}}]")
    catalog = write_catalog(tmp_path / "pb", hunt, other)

    created = await sync_hunt_schedules(client, catalog, task_queue=task_queue)
    assert created.created == [name] and not created.errors
    again = await sync_hunt_schedules(client, catalog, task_queue=task_queue)
    assert again.unchanged == [name] and not again.created and not again.updated

    (listed,) = [s for s in await list_hunt_schedules(client, catalog) if s.playbook == name]
    assert (listed.id, listed.cron, listed.paused, listed.in_catalog) == (
        f"fireline-hunt-{name}",
        "0 * * * *",
        False,
        True,
    )
    assert len(listed.next_runs) == 3

    await pause_hunt(client, name, note="quiet week")
    (paused,) = [s for s in await list_hunt_schedules(client, catalog) if s.playbook == name]
    assert paused.paused and paused.note == "quiet week"
    changed = write_catalog(tmp_path / "pb", hunt.replace("0 * * * *", "*/5 * * * *"), other)
    updated = await sync_hunt_schedules(client, changed, task_queue=task_queue)
    assert updated.updated == [name]
    (still,) = [s for s in await list_hunt_schedules(client, changed) if s.playbook == name]
    assert still.paused and still.cron == "*/5 * * * *"  # an update keeps the pause
    await unpause_hunt(client, name)

    async with running_worker(client, task_queue):
        await trigger_hunt(client, name)
        for _ in range(200):
            (entry,) = [s for s in await list_hunt_schedules(client, changed) if s.playbook == name]
            if entry.recent_runs:
                break
            await asyncio.sleep(0.05)
        run_id = entry.recent_runs[-1]
        assert run_id.startswith(f"fireline-hunt-{name}")
        await client.get_workflow_handle(run_id).result()
        state = await status(client, run_id)
    assert state.status.value == "succeeded" and state.alert_id == f"schedule:{name}"
    echoed = state.step("search")
    assert echoed is not None and echoed.output == {
        "message": f"hunt schedule */5 * * * * from {AlertSource.SCHEDULE}"
    }

    gone = await sync_hunt_schedules(client, write_catalog(tmp_path / "pb", other), task_queue=task_queue)
    assert name in gone.deleted
    with pytest.raises(HuntNotFound):
        await pause_hunt(client, name)


async def test_a_bad_cron_is_reported_not_raised(tmp_path: Path, client: Client, task_queue: str) -> None:
    name = unique("bad-cron")
    catalog = write_catalog(tmp_path / "pb", playbook_yaml(name, "schedule: 'every tuesday'", HUNT_STEPS))
    report = await sync_hunt_schedules(client, catalog, task_queue=task_queue)
    assert list(report.errors) == [name] and not report.created
