"""Whether the signed-in user may decide a pending approval, and why not.

This only decides what the page offers; the run's ``decide`` Update validator has the last word.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from engine.access import Principal, Role, groups_of
from engine.plan.state import Decision, StepRecord, StepStatus

#: Form fields carrying an edited argument: ``set.<name>``, a JSON value.
EDIT_PREFIX = "set."
#: Step paths as runs name them: ids, loop indexes and dots.
STEP_PATH = re.compile(r"^[a-z][a-z0-9_]*(\[\d{1,6}\])?(\.[a-z][a-z0-9_]*(\[\d{1,6}\])?){0,20}$")
MAX_REASON_CHARS = 2000


class Verdict(BaseModel):
    """May this user decide this step now?"""

    allowed: bool
    why: str = ""


def verdict(principal: Principal, record: StepRecord, approver_groups: Mapping[str, list[str]]) -> Verdict:
    """The console's answer for ``principal`` on the approval ``record``."""
    approval = record.approval
    if approval is None or record.status is not StepStatus.WAITING:
        return Verdict(allowed=False, why="this step is not waiting for a decision")
    if not principal.role.allows(Role.RESPONDER):
        return Verdict(
            allowed=False,
            why=f"you are signed in as {principal.user} with the {principal.role} role; "
            "deciding needs the responder or admin role",
        )
    groups = groups_of(approver_groups, principal.user)
    allowed = set(approval.approvers)
    if principal.approver in allowed or any(f"group:{g}" in allowed for g in groups):
        return Verdict(allowed=True)
    member = ", ".join(groups) if groups else "no approver group"
    return Verdict(
        allowed=False,
        why=f"only {', '.join(approval.approvers)} may decide this step; "
        f"you are {principal.approver} (member of {member})",
    )


def parse_decision(form: Mapping[str, str]) -> tuple[str, Decision, str] | str:
    """``(step, decision, reason)`` from the form, or what is wrong with it."""
    step = form.get("step", "")
    if not STEP_PATH.match(step):
        return "the form names no valid step"
    try:
        decision = Decision(form.get("decision", ""))
    except ValueError:
        return "decision must be approve or reject"
    reason = form.get("reason", "").strip()
    if len(reason) > MAX_REASON_CHARS:
        return f"the reason is longer than {MAX_REASON_CHARS} characters"
    if decision is Decision.REJECT and not reason:
        return "a rejection needs a reason"
    return step, decision, reason


def parse_edits(form: Mapping[str, str], current: Mapping[str, Any]) -> dict[str, Any] | str:
    """The arguments the approver changed (``set.<name>`` fields, JSON), or what is wrong with them.

    Fields left as prefilled are no edit; the run's validator checks names and values.
    """
    edits: dict[str, Any] = {}
    for key, raw in form.items():
        if not key.startswith(EDIT_PREFIX):
            continue
        name = key.removeprefix(EDIT_PREFIX)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            return f"{name}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        if name not in current or value != current[name]:
            edits[name] = value
    return edits
