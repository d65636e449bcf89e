"""What templates see of steps (``steps.<id>``), and small helpers the conductor shares."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from engine.errors import TemplateError
from engine.plan.approvals import approved
from engine.plan.models import Plan, PlanStep, StepKind
from engine.plan.packed import PackedOutput
from engine.plan.state import RunState, StepRecord


def run_view(plan: Plan, state: RunState) -> dict[str, Any]:
    """What templates see as ``run``."""
    return {
        "id": state.run_id,
        "workflow_id": state.run_id,
        "playbook": plan.name,
        "version": plan.version,
        "sha256": plan.sha256,
        "started_at": state.started_at.isoformat().replace("+00:00", "Z"),
    }


def step_view(record: StepRecord) -> dict[str, Any]:
    """What ``steps.<id>`` shows to templates."""
    view: dict[str, Any] = {
        "status": record.status.value,
        "output": record.output,
        "error": record.error,
        "attempts": len(record.attempts),
    }
    if record.approval is not None:
        view["approved"] = approved(record)
        view["decided_by"] = record.approval.decided_by
        view["reason"] = record.approval.reason
    return view


class StepViews(Mapping[str, dict[str, Any]]):
    """``steps`` as one render sees it: a packed output is parsed when first read, then reused.

    Made for each render and dropped after it, so a parked run holds only the packed text.
    """

    def __init__(self, views: dict[str, dict[str, Any]]) -> None:
        self._views = views
        self._read: dict[str, dict[str, Any]] = {}

    def __getitem__(self, step_id: str) -> dict[str, Any]:
        view = self._read.get(step_id)
        if view is None:
            view = self._views[step_id]
            if isinstance(view.get("output"), PackedOutput):
                view = {**view, "output": view["output"].value()}
            self._read[step_id] = view
        return view

    def __iter__(self) -> Iterator[str]:
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)


NOT_RUN = "not_run"


def not_run_views(steps: list[PlanStep]) -> dict[str, dict[str, Any]]:
    """A ``not_run`` view for each step and each parallel child (loop children stay in their loop)."""
    views: dict[str, dict[str, Any]] = {}
    for step in steps:
        views[step.id] = {"status": NOT_RUN, "output": None, "error": None, "attempts": 0}
        if step.kind is StepKind.APPROVAL:
            views[step.id].update(approved=False, decided_by=None, reason="")
        if step.kind is StepKind.PARALLEL:
            views.update(not_run_views(step.children))
    return views


def steps_of_kind(steps: list[PlanStep], kind: StepKind) -> dict[str, PlanStep]:
    """Every step of ``kind`` by id, nested ones included (ids are unique in a playbook)."""
    found: dict[str, PlanStep] = {}
    for step in steps:
        if step.kind is kind:
            found[step.id] = step
        found.update(steps_of_kind(step.children, kind))
    return found


def action_steps(steps: list[PlanStep]) -> dict[str, PlanStep]:
    """Every action step by id, nested ones included."""
    return steps_of_kind(steps, StepKind.ACTION)


def approval_steps(steps: list[PlanStep]) -> dict[str, PlanStep]:
    """Every approval step by id, nested ones included."""
    return steps_of_kind(steps, StepKind.APPROVAL)


def parse_timestamp(value: Any, what: str) -> datetime:
    """An aware datetime from an ISO-8601 string, or a TemplateError naming ``what``."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise TemplateError(f"{what} {str(value)[:60]!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise TemplateError(f"{what} needs a time zone (e.g. a trailing Z)")
    return moment
