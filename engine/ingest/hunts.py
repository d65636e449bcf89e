"""Scheduled hunts: every playbook with ``trigger.schedule: <cron>`` gets a Temporal Schedule.

The schedule ``fireline-hunt-<playbook>`` starts ``PlaybookRun`` with a synthetic tick alert
(source ``schedule``; its ``occurred_at`` is when the schedule was last synced, the run's own
``run.started_at`` is the tick). :func:`sync_hunt_schedules` creates, updates and deletes
schedules to match the catalog; the rest serves ``fireline schedules``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from pydantic import BaseModel, Field
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from engine.alerts.model import Alert, AlertSource, Severity
from engine.errors import FirelineError
from engine.ingest.errors import IngestError
from engine.ingest.triggers import TriggeredPlaybook, TriggerSet
from engine.plan.inputs import resolve_inputs
from engine.spec.catalog import Catalog
from engine.workflows.types import WORKFLOW_NAME, RunInput

HUNT_PREFIX = "fireline-hunt-"
DIGEST_MEMO = "fireline_digest"
CRON_MEMO = "fireline_cron"


class HuntNotFound(IngestError):
    """No hunt schedule for that playbook."""


class HuntSchedule(BaseModel):
    """One line of ``fireline schedules``."""

    id: str
    playbook: str
    cron: str = ""
    paused: bool = False
    note: str = ""
    in_catalog: bool = True
    next_runs: list[datetime] = Field(default_factory=list)
    recent_runs: list[str] = Field(default_factory=list, description="Workflow ids of the latest runs.")


class SyncReport(BaseModel):
    """What :func:`sync_hunt_schedules` changed."""

    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict)


def schedule_id(playbook: str) -> str:
    """The schedule id of a playbook's hunt (a full id is accepted too)."""
    return playbook if playbook.startswith(HUNT_PREFIX) else HUNT_PREFIX + playbook


def tick_alert(playbook: str, cron: str, at: datetime) -> Alert:
    """The synthetic alert a scheduled run starts with."""
    return Alert(
        id=f"schedule:{playbook}",
        source=AlertSource.SCHEDULE,
        rule=f"schedule {cron}",
        title=f"Scheduled hunt: {playbook}",
        severity=Severity.INFO,
        fingerprint=f"schedule:{playbook}",
        occurred_at=at,
        received_at=at,
        fields={"schedule": {"cron": cron, "playbook": playbook}},
    )


def _schedule(
    playbook: TriggeredPlaybook, task_queue: str, now: datetime, action_queues: dict[str, str] | None = None
) -> tuple[Schedule, str]:
    """The schedule of one hunt and its digest (what decides whether an update is needed)."""
    cron = playbook.schedule or ""
    view = tick_alert(playbook.name, cron, now).template_view()
    inputs = resolve_inputs(playbook.plan, view, {})
    digest_source = json.dumps(
        [playbook.plan.model_dump(mode="json"), cron, task_queue, inputs, action_queues or {}],
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(digest_source.encode()).hexdigest()
    action = ScheduleActionStartWorkflow(
        WORKFLOW_NAME,
        RunInput(
            plan=playbook.plan,
            alert=view,
            inputs=inputs,
            action_queues=action_queues or {},
        ),
        id=schedule_id(playbook.name),
        task_queue=task_queue,
        memo={
            "playbook": playbook.name,
            "status": "running",
            "title": view["title"],
            DIGEST_MEMO: digest,
            CRON_MEMO: cron,
        },
    )
    spec = ScheduleSpec(cron_expressions=[cron])
    return Schedule(
        action=action, spec=spec, policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP)
    ), digest


def _memo(client: Client, desc: ScheduleDescription, key: str) -> str:
    action = desc.schedule.action
    memo = action.memo if isinstance(action, ScheduleActionStartWorkflow) else None
    raw = (memo or {}).get(key)
    if raw is None:
        return ""
    try:
        value = client.data_converter.payload_converter.from_payload(raw, str)
    except Exception:  # a schedule someone else wrote: treat as unknown
        return ""
    return value if isinstance(value, str) else ""


async def _describe(client: Client, sid: str) -> ScheduleDescription | None:
    try:
        return await client.get_schedule_handle(sid).describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise


async def _hunt_ids(client: Client) -> set[str]:
    # Listing is eventually consistent: fine for finding leftovers, never used to decide creation.
    return {s.id async for s in await client.list_schedules() if s.id.startswith(HUNT_PREFIX)}


async def sync_hunt_schedules(
    client: Client,
    catalog: Catalog,
    *,
    task_queue: str,
    now: datetime | None = None,
    action_queues: dict[str, str] | None = None,
) -> SyncReport:
    """Make the hunt schedules match the catalog; a playbook's problems land in ``errors``."""
    now = now or datetime.now(UTC)
    report = SyncReport()
    wanted = {schedule_id(p.name): p for p in TriggerSet.from_catalog(catalog).scheduled}
    for sid, playbook in wanted.items():
        try:
            schedule, digest = _schedule(playbook, task_queue, now, action_queues)
            desc = await _describe(client, sid)
            if desc is None:
                try:
                    await client.create_schedule(sid, schedule)
                    report.created.append(playbook.name)
                    continue
                except ScheduleAlreadyRunningError:
                    desc = await _describe(client, sid)
            if desc is not None and _memo(client, desc, DIGEST_MEMO) == digest:
                report.unchanged.append(playbook.name)
                continue

            def update(current: ScheduleUpdateInput, schedule: Schedule = schedule) -> ScheduleUpdate:
                schedule.state = current.description.schedule.state  # keep paused / note
                return ScheduleUpdate(schedule=schedule)

            await client.get_schedule_handle(sid).update(update)
            report.updated.append(playbook.name)
        except (FirelineError, RPCError, ValueError) as exc:
            report.errors[playbook.name] = str(exc).splitlines()[0][:300]
    for sid in sorted(await _hunt_ids(client) - set(wanted)):
        try:
            await client.get_schedule_handle(sid).delete()
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                report.errors[sid.removeprefix(HUNT_PREFIX)] = f"delete failed: {exc.message[:200]}"
                continue
        report.deleted.append(sid.removeprefix(HUNT_PREFIX))
    return report


async def list_hunt_schedules(client: Client, catalog: Catalog | None = None) -> list[HuntSchedule]:
    """Every hunt schedule (and, with ``catalog``, the ones it expects even if just created)."""
    expected = {schedule_id(p.name) for p in TriggerSet.from_catalog(catalog).scheduled} if catalog else set()
    out: list[HuntSchedule] = []
    for sid in sorted(await _hunt_ids(client) | expected):
        desc = await _describe(client, sid)
        if desc is None:
            continue
        recent = [
            a.action.workflow_id
            for a in desc.info.recent_actions
            if isinstance(a.action, ScheduleActionExecutionStartWorkflow)
        ]
        out.append(
            HuntSchedule(
                id=sid,
                playbook=sid.removeprefix(HUNT_PREFIX),
                cron=_memo(client, desc, CRON_MEMO),
                paused=desc.schedule.state.paused,
                note=desc.schedule.state.note or "",
                in_catalog=catalog is None or sid in expected,
                next_runs=list(desc.info.next_action_times[:3]),
                recent_runs=recent[-5:],
            )
        )
    return out


async def _handle_op(client: Client, playbook: str, op: str, note: str | None = None) -> None:
    handle = client.get_schedule_handle(schedule_id(playbook))
    try:
        if op == "pause":
            await handle.pause(note=note or "paused with fireline schedules")
        elif op == "unpause":
            await handle.unpause(note=note or "resumed with fireline schedules")
        else:
            await handle.trigger()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise HuntNotFound(f"no hunt schedule for {playbook!r}") from None
        raise


async def pause_hunt(client: Client, playbook: str, note: str | None = None) -> None:
    """Pause a hunt (``fireline schedules pause``)."""
    await _handle_op(client, playbook, "pause", note)


async def unpause_hunt(client: Client, playbook: str, note: str | None = None) -> None:
    """Resume a paused hunt."""
    await _handle_op(client, playbook, "unpause", note)


async def trigger_hunt(client: Client, playbook: str) -> None:
    """Run a hunt now, outside its schedule."""
    await _handle_op(client, playbook, "trigger")
