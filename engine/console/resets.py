"""What the console offers an admin who wants to re-run a run from a step, and the form's checks.

The reset itself is :func:`engine.reset.reset_run`, the same one ``fireline reset`` uses; it has the
last word on which steps can be returned to.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from engine.access import Principal, Role
from engine.console.decisions import MAX_REASON_CHARS, STEP_PATH
from engine.plan.state import RunState, RunStatus, StepStatus


class ResetOffer(BaseModel):
    """The reset form on a run's page: which steps, which one preselected."""

    steps: list[str]
    preselected: str
    running: bool


def reset_offer(principal: Principal, state: RunState) -> ResetOffer | None:
    """The form to show ``principal``, or None (not an admin, or no step started yet).

    Only the run's own steps are offered: a step inside a child run is re-run through its parent's
    ``playbook:`` step.
    """
    if not principal.role.allows(Role.ADMIN):
        return None
    steps = [r.path for r in state.steps if "." not in r.path and r.status is not StepStatus.SKIPPED]
    if not steps:
        return None
    failed = str((state.failure or {}).get("step", ""))
    return ResetOffer(
        steps=steps,
        preselected=failed if failed in steps else steps[-1],
        running=state.status is RunStatus.RUNNING,
    )


def parse_reset(form: Mapping[str, str]) -> tuple[str, str] | str:
    """``(step, reason)`` from the form, or what is wrong with it."""
    step = form.get("step", "")
    if not STEP_PATH.match(step):
        return "the form names no valid step"
    reason = form.get("reason", "").strip()
    if not reason:
        return "a reset needs a reason: it is written to the run's audit trail"
    if len(reason) > MAX_REASON_CHARS:
        return f"the reason is longer than {MAX_REASON_CHARS} characters"
    return step, reason
