"""Block Kit for approvals: the request with buttons, the decided form, the reject-reason modal.

Everything shown here may come from alert data, so text is escaped for Slack's mrkdwn (``&``,
``<``, ``>``): an alert cannot ping ``@channel`` or smuggle a link into an approval request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from integrations.slack.edits import edit_button

APPROVE_ACTION = "fireline_approve"
REJECT_ACTION = "fireline_reject"
REJECT_CALLBACK = "fireline_reject_reason"
REASON_BLOCK = "fireline_reason"
REASON_INPUT = "reason"
EVIDENCE_BLOCK = "fireline_evidence"
RUN_BLOCK = "fireline_run"
DECISION_BLOCK = "fireline_decision"

# Slack's limits (https://docs.slack.dev/reference/block-kit): header 150, section 3000,
# button value 2000, private_metadata 3000 characters.
_HEADER_MAX = 150
_SECTION_MAX = 3000
_METADATA_MAX = 3000
_REASON_MAX = 2000


class ButtonValue(BaseModel):
    """What an Approve or Reject button carries back to us."""

    model_config = ConfigDict(extra="ignore")

    run_id: str
    step: str


class RejectMetadata(BaseModel):
    """The reject modal's ``private_metadata``: where the decision goes and which message to update."""

    model_config = ConfigDict(extra="ignore")

    run_id: str
    step: str
    channel: str
    ts: str
    evidence: str = ""
    run_url: str | None = None


def escape(text: object) -> str:
    """Escape text for Slack's mrkdwn and plain text: ``&``, ``<`` and ``>``."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…" if limit > 0 else ""


def mention(principal: str) -> str:
    """``user:U1`` → ``<@U1>``; ``group:S1`` → ``<!subteam^S1>``; ``group:oncall`` → ``@oncall``."""
    kind, _, ident = principal.partition(":")
    safe = escape(ident)
    if kind == "user" and ident.isalnum():
        return f"<@{ident}>"
    if kind == "group" and ident.isalnum() and ident[:1] == "S" and ident.isupper():
        return f"<!subteam^{ident}>"
    if kind == "group":
        return f"@{safe}"
    return safe


def slack_date(moment: datetime) -> str:
    """A date Slack shows in each reader's own time zone, with an ISO fallback."""
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{moment.isoformat()}>"


def _section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, _SECTION_MAX)}}
    if block_id:
        block["block_id"] = block_id
    return block


def _common(
    title: str, details: str, evidence_summary: str, run_url: str | None, approvers: list[str] | None
) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(title or "Approval", _HEADER_MAX)}}
    ]
    if details:
        blocks.append(_section(escape(details)))
    if evidence_summary:
        blocks.append(_section(f"*Evidence*\n{escape(evidence_summary)}", EVIDENCE_BLOCK))
    context: list[dict[str, Any]] = []
    if approvers:
        names = ", ".join(mention(a) for a in approvers[:20])
        context.append({"type": "mrkdwn", "text": _cut(f"Approvers: {names}", _SECTION_MAX)})
    if run_url:
        context.append(_run_link(run_url))
    if context:
        blocks.append({"type": "context", "block_id": RUN_BLOCK, "elements": context})
    return blocks


def approval_message(
    run_id: str,
    step_path: str,
    title: str,
    details: str,
    evidence_summary: str,
    run_url: str | None,
    approvers: list[str],
    editable: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """An approval request with Approve and Reject buttons that carry ``{run_id, step}``.

    An approval with editable arguments also gets "Edit and approve" (:mod:`integrations.slack.edits`).
    """
    blocks = _common(title, details, evidence_summary, run_url, approvers)
    blocks.append(_decision_buttons(run_id, step_path, edit_button(run_id, step_path, editable, run_url)))
    return blocks


def _run_link(run_url: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": f"<{escape(run_url)}|Open the run>"}


def _decision_buttons(run_id: str, step_path: str, edit: dict[str, Any] | None = None) -> dict[str, Any]:
    value = ButtonValue(run_id=run_id, step=step_path).model_dump_json()
    buttons = [
        {
            "type": "button",
            "action_id": APPROVE_ACTION,
            "text": {"type": "plain_text", "text": "Approve"},
            "style": "primary",
            "value": value,
        },
        {
            "type": "button",
            "action_id": REJECT_ACTION,
            "text": {"type": "plain_text", "text": "Reject"},
            "style": "danger",
            "value": value,
        },
    ]
    if edit is not None:
        buttons.insert(1, edit)
    return {"type": "actions", "block_id": DECISION_BLOCK, "elements": buttons}


def reminder_message(
    run_id: str,
    step_path: str,
    title: str,
    escalate_to: list[str],
    deadline: datetime | None,
    run_url: str | None = None,
) -> list[dict[str, Any]]:
    """An escalation reminder: nobody decided in time; mentions the next approvers, keeps the buttons."""
    who = ", ".join(mention(a) for a in escalate_to[:20]) or "the approvers"
    until = f" before {slack_date(deadline)}" if deadline is not None else ""
    text = f":alarm_clock: No decision yet on *{escape(title)}*. {who}: please decide{until}."
    blocks = [_section(text)]
    if run_url:
        blocks.append({"type": "context", "block_id": RUN_BLOCK, "elements": [_run_link(run_url)]})
    blocks.append(_decision_buttons(run_id, step_path))
    return blocks


def decided_message(
    run_id: str,
    step_path: str,
    title: str,
    decision: str,
    decided_by: str,
    decided_at: datetime | None,
    reason: str = "",
    *,
    details: str = "",
    evidence_summary: str = "",
    run_url: str | None = None,
) -> list[dict[str, Any]]:
    """The request after its decision: who decided, when and why; no buttons."""
    verb = "Approved" if decision == "approve" else "Rejected"
    icon = ":white_check_mark:" if decision == "approve" else ":no_entry:"
    when = f" on {slack_date(decided_at)}" if decided_at is not None else ""
    outcome = f"{icon} *{verb}* by {mention(decided_by)}{when}"
    if reason:
        outcome += f"\n>{escape(reason)}"
    blocks = _common(title, details, evidence_summary, run_url, None)
    blocks.append(_section(outcome, DECISION_BLOCK))
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"{escape(run_id)} · {escape(step_path)}"}],
        }
    )
    return blocks


def decided_text(title: str, decision: str, decided_by: str) -> str:
    """Notification fallback text for :func:`decided_message`."""
    verb = "Approved" if decision == "approve" else "Rejected"
    return f"{verb} by {mention(decided_by)}: {escape(title)}"


def reject_modal(
    run_id: str,
    step: str,
    channel: str,
    ts: str,
    *,
    title: str = "",
    evidence_summary: str = "",
    run_url: str | None = None,
) -> dict[str, Any]:
    """A modal asking for the rejection's reason; ``private_metadata`` says where it goes."""
    meta = RejectMetadata(
        run_id=run_id, step=step, channel=channel, ts=ts, evidence=evidence_summary, run_url=run_url
    )
    encoded = meta.model_dump_json()
    keep = len(evidence_summary)
    while len(encoded) > _METADATA_MAX and keep > 0:
        # The evidence is only shown again on the decided message: shorten it, never the routing.
        keep //= 2
        encoded = meta.model_copy(update={"evidence": _cut(evidence_summary, keep)}).model_dump_json()
    if len(encoded) > _METADATA_MAX:
        encoded = meta.model_copy(update={"evidence": "", "run_url": None}).model_dump_json()
    prompt = f"Why reject *{escape(title)}*?" if title else "Why reject this step?"
    return {
        "type": "modal",
        "callback_id": REJECT_CALLBACK,
        "private_metadata": encoded,
        "title": {"type": "plain_text", "text": "Reject step"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _section(prompt),
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": True,
                    "max_length": _REASON_MAX,
                },
            },
        ],
    }


def parse_button_value(value: object) -> ButtonValue | None:
    """The ``{run_id, step}`` of a clicked button, or None when it is not ours or not readable."""
    if not isinstance(value, str):
        return None
    try:
        return ButtonValue.model_validate_json(value)
    except ValidationError:
        return None


def parse_reject_metadata(value: object) -> RejectMetadata | None:
    """The reject modal's routing, or None when it is not readable."""
    if not isinstance(value, str):
        return None
    try:
        return RejectMetadata.model_validate_json(value)
    except ValidationError:
        return None


def carried_context(blocks: object) -> tuple[str, str | None]:
    """The evidence summary and run link shown on an approval message, to keep on its decided form."""
    evidence, run_url = "", None
    if not isinstance(blocks, list):
        return evidence, run_url
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if block.get("block_id") == EVIDENCE_BLOCK:
            text = str((block.get("text") or {}).get("text", ""))
            evidence = _unescape(text.removeprefix("*Evidence*\n"))
        elif block.get("block_id") == RUN_BLOCK:
            for element in block.get("elements") or []:
                text = str(element.get("text", "")) if isinstance(element, dict) else ""
                if text.startswith("<") and text.endswith("|Open the run>"):
                    run_url = _unescape(text[1 : -len("|Open the run>")])
    return evidence, run_url


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# The workflow's refusal of a second decision names the first, open run or finished
# (engine.plan.approvals.already_decided): "approve was already approved by user:U1 at <T> via cli";
# a timeout reads "approve was already rejected at <T>: nobody decided before the deadline".
_ALREADY = re.compile(
    r"\bwas already (approved|rejected)(?: by ((?:user|group):[A-Za-z0-9._@-]+))?"
    r" at (\d{4}-\d\d-\d\dT\d\d:\d\d)"
)


def refusal_text(message: str) -> str:
    """What the clicker reads when the workflow refused the decision: who decided first, and when."""
    decided = _ALREADY.search(message)
    if decided and decided.group(2) is None:
        return f":hourglass: This approval already timed out ({decided.group(1)}); nothing changed."
    if decided:
        verb, who, when = decided.groups()
        return (
            f":information_source: Already {verb} by {mention(who)} "
            f"at {when.replace('T', ' ')} UTC; nothing changed."
        )
    return f":no_entry_sign: Your decision was not recorded: {escape(message)}"
