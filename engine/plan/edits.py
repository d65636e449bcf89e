"""Edit-then-approve: an approver's new values for arguments of the step an approval guards.

The edited values are checked against the JSON Schema of the guarded action's parameter model
(carried in the plan, so the workflow needs no integration code); the action validates its
arguments again with the pydantic model when it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator

from engine.errors import ApprovalRefused

MAX_EDIT_CHARS = 20_000


def edit_schema(params_schema: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    """The part of an action's parameter schema that covers ``names`` (with its ``$defs``)."""
    properties = params_schema.get("properties", {})
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {n: properties[n] for n in names if n in properties},
        "additionalProperties": False,
    }
    if "$defs" in params_schema:
        schema["$defs"] = params_schema["$defs"]
    return schema


def check_edits(
    step: str, guards: str | None, editable: list[str], schema: Mapping[str, Any], edits: Mapping[str, Any]
) -> None:
    """Raise :class:`ApprovalRefused` unless ``edits`` only change editable arguments, validly."""
    if not edits:
        return
    if not editable or guards is None:
        raise ApprovalRefused(f"{step} has no editable arguments; approve without edits")
    refused = sorted(set(edits) - set(editable))
    if refused:
        raise ApprovalRefused(
            f"{', '.join(refused)} {'is' if len(refused) == 1 else 'are'} not editable on {step} "
            f"(editable: {', '.join(editable)})"
        )
    if len(repr(dict(edits))) > MAX_EDIT_CHARS:
        raise ApprovalRefused(f"the edited values are longer than {MAX_EDIT_CHARS} characters")
    if not schema.get("properties"):
        raise ApprovalRefused(f"{step}: the plan has no schema for {guards}'s arguments; cannot check edits")
    errors = sorted(Draft202012Validator(schema).iter_errors(dict(edits)), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = _field_path(list(first.absolute_path))
        raise ApprovalRefused(f"edited {guards}.{where}: {first.message[:300]}")


def _field_path(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def edit_trail(current: Mapping[str, Any], edits: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{argument: {"from": original, "to": edited}}`` for the audit trail."""
    return {name: {"from": current.get(name), "to": value} for name, value in sorted(edits.items())}
