"""Edit-then-approve in Slack: the "Edit and approve" button and its modal.

The button carries the approval's editable arguments as they rendered; the modal shows one JSON
input per argument, prefilled. Values too big for a button (2000 characters) or an input (3000)
get an "Edit in the console" link to the run instead. The run's validator checks what comes back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

EDIT_ACTION = "fireline_edit_approve"
EDIT_LINK_ACTION = "fireline_edit_in_console"
EDIT_CALLBACK = "fireline_edit_approve_submit"
#: Block id of one argument's input: this prefix and the argument name.
EDIT_BLOCK = "fireline_edit:"
EDIT_INPUT = "value"
EDIT_REASON_BLOCK = "fireline_edit_reason"
_BUTTON_MAX = 2000
_INPUT_MAX = 3000
_METADATA_MAX = 3000


class EditButtonValue(BaseModel):
    """What the "Edit and approve" button carries back: where, and the values to prefill."""

    model_config = ConfigDict(extra="ignore")

    run_id: str
    step: str
    editable: dict[str, Any] = {}


class EditMetadata(BaseModel):
    """The edit modal's ``private_metadata``: where the decision goes and which message to update."""

    model_config = ConfigDict(extra="ignore")

    run_id: str
    step: str
    channel: str
    ts: str
    run_url: str | None = None


def edit_button(
    run_id: str, step: str, editable: Mapping[str, Any] | None, run_url: str | None
) -> dict[str, Any] | None:
    """The "Edit and approve" button, the console link when the values are too big, or None."""
    if not editable:
        return None
    value = EditButtonValue(run_id=run_id, step=step, editable=dict(editable)).model_dump_json()
    fits = len(value) <= _BUTTON_MAX and all(len(json.dumps(v)) <= _INPUT_MAX for v in editable.values())
    if fits:
        text = {"type": "plain_text", "text": "Edit and approve"}
        return {"type": "button", "action_id": EDIT_ACTION, "text": text, "value": value}
    if run_url:
        text = {"type": "plain_text", "text": "Edit in the console"}
        return {"type": "button", "action_id": EDIT_LINK_ACTION, "text": text, "url": run_url}
    return None


def parse_edit_button(value: object) -> EditButtonValue | None:
    """The clicked edit button's value, or None when it is not readable."""
    if not isinstance(value, str):
        return None
    try:
        return EditButtonValue.model_validate_json(value)
    except ValidationError:
        return None


def edit_modal(
    button: EditButtonValue, channel: str, ts: str, *, title: str, run_url: str | None
) -> dict[str, Any]:
    """A modal with one prefilled JSON input per editable argument and an optional reason."""
    meta = EditMetadata(run_id=button.run_id, step=button.step, channel=channel, ts=ts, run_url=run_url)
    encoded = meta.model_dump_json()
    if len(encoded) > _METADATA_MAX:
        encoded = meta.model_copy(update={"run_url": None}).model_dump_json()
    safe = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    intro = (
        f"Change what *{safe}* will do, then approve. Values are JSON, checked against the step's parameters."
    )
    inputs = [
        {
            "type": "input",
            "block_id": f"{EDIT_BLOCK}{name}",
            "label": {"type": "plain_text", "text": name[:150]},
            "element": {
                "type": "plain_text_input",
                "action_id": EDIT_INPUT,
                "multiline": True,
                "initial_value": json.dumps(value),
                "max_length": _INPUT_MAX,
            },
        }
        for name, value in sorted(button.editable.items())
    ]
    reason = {
        "type": "input",
        "block_id": EDIT_REASON_BLOCK,
        "optional": True,
        "label": {"type": "plain_text", "text": "Reason (optional)"},
        "element": {"type": "plain_text_input", "action_id": EDIT_INPUT, "max_length": 2000},
    }
    return {
        "type": "modal",
        "callback_id": EDIT_CALLBACK,
        "private_metadata": encoded,
        "title": {"type": "plain_text", "text": "Edit and approve"},
        "submit": {"type": "plain_text", "text": "Approve"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": intro[:3000]}}, *inputs, reason],
    }


def submitted_edits(state: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str], str]:
    """``(edits, errors by block id, reason)`` from a submitted edit modal's ``state``."""
    edits: dict[str, Any] = {}
    errors: dict[str, str] = {}
    reason = ""
    values = state.get("values") if isinstance(state.get("values"), dict) else {}
    for block_id, field in (values or {}).items():
        raw = (field.get(EDIT_INPUT) or {}).get("value") if isinstance(field, dict) else None
        if block_id == EDIT_REASON_BLOCK:
            reason = str(raw or "").strip()
        elif isinstance(block_id, str) and block_id.startswith(EDIT_BLOCK):
            try:
                edits[block_id.removeprefix(EDIT_BLOCK)] = json.loads(str(raw or ""))
            except json.JSONDecodeError as exc:
                errors[block_id] = f"Not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    return edits, errors, reason
