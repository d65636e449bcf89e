"""Act on Slack interactivity payloads: Approve/Reject clicks and the reject-reason modal.

Shared by the HTTP route (:mod:`engine.ingest.slack_interactions`) and Socket Mode
(:mod:`engine.ingest.slack_socket`). Each payload is handled in two parts: :meth:`acknowledge`
answers at once without I/O (Slack wants an answer within 3 seconds) and :meth:`process` does
the slow work after: resolve the clicker's user groups, send the decision through the run's
``decide`` Update, update the message or tell the clicker why nothing changed.

Who may decide is the workflow's call (its Update validator), never this module's: a refusal
comes back as :class:`ApprovalRefused` and is shown to the clicker only, as an ephemeral message.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import ValidationError
from slack_sdk import WebClient

from engine.errors import ApprovalRefused, RunNotFound
from engine.plan.state import Decision, StepRecord
from integrations.slack import blocks
from integrations.slack import edits as edit_blocks
from integrations.slack.payloads import BlockActions, ViewSubmission
from integrations.slack.usergroups import GroupMembership

log = logging.getLogger("fireline.slack.interactions")
VIA = "slack"


class DecideFn(Protocol):
    """:func:`engine.client.decide` with its client bound."""

    def __call__(
        self,
        run_id: str,
        step: str,
        decision: Decision,
        by: str,
        *,
        groups: list[str] | None,
        reason: str,
        via: str,
        edits: dict[str, Any] | None = None,
    ) -> Awaitable[StepRecord]: ...


AuditFn = Callable[[dict[str, Any]], object]


class AuditKind(StrEnum):
    """What an audit event records."""

    REQUEST_REFUSED = "slack.request_refused"
    DECISION = "slack.decision"
    DECISION_REFUSED = "slack.decision_refused"
    DECISION_FAILED = "slack.decision_failed"
    REJECT_STARTED = "slack.reject_started"
    EDIT_STARTED = "slack.edit_started"
    MESSAGE_UPDATE_FAILED = "slack.message_update_failed"
    IGNORED = "slack.ignored"


class SlackInteractionDispatcher:
    """Turns interactivity payloads into decisions, message updates and audit events."""

    def __init__(
        self,
        decide_fn: DecideFn,
        slack_client_factory: Callable[[], WebClient],
        audit_fn: AuditFn,
        *,
        groups: GroupMembership | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._decide = decide_fn
        self._slack = slack_client_factory
        self._audit_fn = audit_fn
        self.groups = groups or GroupMembership(slack_client_factory)
        self._now = now

    # -- the fast part ------------------------------------------------------------------------------------
    def acknowledge(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """The immediate answer to Slack (no I/O): None for an empty 200, or a response body."""
        if payload.get("type") != "view_submission":
            return None
        try:
            submission = ViewSubmission.model_validate(payload)
        except ValidationError:
            return None
        if submission.view.callback_id == edit_blocks.EDIT_CALLBACK:
            _, errors, _ = edit_blocks.submitted_edits(submission.view.state)
            return {"response_action": "errors", "errors": errors} if errors else None
        if submission.view.callback_id == blocks.REJECT_CALLBACK and not submission.view.reason():
            return {
                "response_action": "errors",
                "errors": {blocks.REASON_BLOCK: "Say why you reject this step."},
            }
        return None

    # -- the slow part ------------------------------------------------------------------------------------
    async def process(self, payload: dict[str, Any], *, remote: str = "") -> None:
        """Act on one payload; never raises (every failure is logged, audited or shown to the user)."""
        try:
            if payload.get("type") == "block_actions":
                await self._block_actions(BlockActions.model_validate(payload), remote)
            elif payload.get("type") == "view_submission":
                submission = ViewSubmission.model_validate(payload)
                if submission.view.callback_id == blocks.REJECT_CALLBACK and submission.view.reason():
                    await self._reject_submitted(submission, remote)
                elif submission.view.callback_id == edit_blocks.EDIT_CALLBACK:
                    await self._edit_submitted(submission, remote)
        except ValidationError as exc:
            await self.audit(
                {
                    "kind": AuditKind.IGNORED,
                    "reason": f"unreadable payload ({exc.error_count()} errors)",
                    "remote_addr": remote,
                }
            )
        except Exception:
            log.exception("slack interaction failed")

    async def _block_actions(self, payload: BlockActions, remote: str) -> None:
        for item in payload.actions:
            if item.action_id == edit_blocks.EDIT_ACTION:
                await self._open_edit_modal(payload, item.value, remote)
                continue
            if item.action_id not in (blocks.APPROVE_ACTION, blocks.REJECT_ACTION):
                continue
            button = blocks.parse_button_value(item.value)
            if button is None:
                await self.audit(
                    {"kind": AuditKind.IGNORED, "reason": "unreadable button value", "remote_addr": remote}
                )
                continue
            if item.action_id == blocks.APPROVE_ACTION:
                await self._approve(payload, button, remote)
            else:
                await self._open_reject_modal(payload, button, remote)

    async def _approve(self, payload: BlockActions, button: blocks.ButtonValue, remote: str) -> None:
        channel, ts = payload.where()
        evidence, run_url = blocks.carried_context(payload.message.blocks if payload.message else [])
        record = await self._decide_as(
            payload.user.id, button.run_id, button.step, Decision.APPROVE, "", channel=channel, remote=remote
        )
        if record is not None:
            await self._show_decided(record, button.run_id, channel, ts, evidence, run_url)

    async def _open_reject_modal(
        self, payload: BlockActions, button: blocks.ButtonValue, remote: str
    ) -> None:
        channel, ts = payload.where()
        message_blocks = payload.message.blocks if payload.message else []
        evidence, run_url = blocks.carried_context(message_blocks)
        view = blocks.reject_modal(
            button.run_id,
            button.step,
            channel,
            ts,
            title=_title(message_blocks),
            evidence_summary=evidence,
            run_url=run_url,
        )
        try:
            await self._call(lambda client: client.views_open(trigger_id=payload.trigger_id, view=view))
        except Exception as exc:
            log.warning("views.open failed: %s", type(exc).__name__)
            await self._ephemeral(
                channel, payload.user.id, ":warning: Could not open the reject form; try again."
            )
            return
        await self.audit(
            {
                "kind": AuditKind.REJECT_STARTED,
                "run_id": button.run_id,
                "step": button.step,
                "by": f"user:{payload.user.id}",
                "remote_addr": remote,
            }
        )

    async def _open_edit_modal(self, payload: BlockActions, value: str | None, remote: str) -> None:
        channel, ts = payload.where()
        button = edit_blocks.parse_edit_button(value)
        if button is None:
            await self.audit(
                {"kind": AuditKind.IGNORED, "reason": "unreadable button value", "remote_addr": remote}
            )
            return
        message_blocks = payload.message.blocks if payload.message else []
        _, run_url = blocks.carried_context(message_blocks)
        view = edit_blocks.edit_modal(button, channel, ts, title=_title(message_blocks), run_url=run_url)
        try:
            await self._call(lambda client: client.views_open(trigger_id=payload.trigger_id, view=view))
        except Exception as exc:
            log.warning("views.open failed: %s", type(exc).__name__)
            await self._ephemeral(
                channel, payload.user.id, ":warning: Could not open the edit form; try again."
            )
            return
        by = f"user:{payload.user.id}"
        await self.audit(
            {
                "kind": AuditKind.EDIT_STARTED,
                "run_id": button.run_id,
                "step": button.step,
                "by": by,
                "remote_addr": remote,
            }
        )

    async def _edit_submitted(self, submission: ViewSubmission, remote: str) -> None:
        try:
            meta = edit_blocks.EditMetadata.model_validate_json(submission.view.private_metadata)
        except ValidationError:
            await self.audit(
                {"kind": AuditKind.IGNORED, "reason": "unreadable modal metadata", "remote_addr": remote}
            )
            return
        changed, errors, reason = edit_blocks.submitted_edits(submission.view.state)
        if errors:  # already answered in acknowledge(); nothing to decide
            return
        record = await self._decide_as(
            submission.user.id,
            meta.run_id,
            meta.step,
            Decision.APPROVE,
            reason,
            channel=meta.channel,
            remote=remote,
            edits=changed,
        )
        if record is not None:
            await self._show_decided(record, meta.run_id, meta.channel, meta.ts, "", meta.run_url)

    async def _reject_submitted(self, submission: ViewSubmission, remote: str) -> None:
        meta = blocks.parse_reject_metadata(submission.view.private_metadata)
        if meta is None:
            await self.audit(
                {"kind": AuditKind.IGNORED, "reason": "unreadable modal metadata", "remote_addr": remote}
            )
            return
        reason = submission.view.reason()
        record = await self._decide_as(
            submission.user.id,
            meta.run_id,
            meta.step,
            Decision.REJECT,
            reason,
            channel=meta.channel,
            remote=remote,
        )
        if record is not None:
            await self._show_decided(record, meta.run_id, meta.channel, meta.ts, meta.evidence, meta.run_url)

    async def _decide_as(
        self,
        user: str,
        run_id: str,
        step: str,
        decision: Decision,
        reason: str,
        *,
        channel: str,
        remote: str,
        edits: dict[str, Any] | None = None,
    ) -> StepRecord | None:
        """Send the decision; on refusal tell the user (ephemeral) and audit. None when nothing changed."""
        by = f"user:{user}"
        event: dict[str, Any] = {
            "run_id": run_id,
            "step": step,
            "by": by,
            "decision": decision.value,
            "remote_addr": remote,
        }
        if edits:
            event["edited"] = sorted(edits)
        groups = await asyncio.to_thread(self.groups.groups_of, user)
        # Only edit-then-approve passes edits, so decide functions without them keep working.
        extra: dict[str, Any] = {"edits": edits} if edits else {}
        try:
            record = await self._decide(
                run_id, step, decision, by, groups=groups, reason=reason, via=VIA, **extra
            )
        except ApprovalRefused as exc:
            await self.audit(
                {**event, "kind": AuditKind.DECISION_REFUSED, "groups": groups, "reason": str(exc)}
            )
            await self._ephemeral(channel, user, blocks.refusal_text(str(exc)))
            return None
        except RunNotFound:
            await self.audit(
                {**event, "kind": AuditKind.DECISION_REFUSED, "reason": "run not found or closed"}
            )
            await self._ephemeral(
                channel, user, ":no_entry_sign: That run is no longer open; nothing changed."
            )
            return None
        except Exception as exc:
            log.warning("decision on %s/%s failed: %s", run_id, step, type(exc).__name__)
            await self.audit({**event, "kind": AuditKind.DECISION_FAILED, "reason": type(exc).__name__})
            await self._ephemeral(
                channel,
                user,
                ":warning: Your decision could not be recorded; try again or use `fireline approve`.",
            )
            return None
        await self.audit({**event, "kind": AuditKind.DECISION, "groups": groups, "reason": reason})
        return record

    async def _show_decided(
        self, record: StepRecord, run_id: str, channel: str, ts: str, evidence: str, run_url: str | None
    ) -> None:
        approval = record.approval
        if approval is None or approval.decision is None or not channel or not ts:
            return
        decided_by = approval.decided_by or ""
        content = blocks.decided_message(
            run_id,
            record.path,
            approval.title,
            approval.decision.value,
            decided_by,
            approval.decided_at,
            approval.reason,
            details=approval.details,
            evidence_summary=evidence,
            run_url=run_url,
        )
        text = blocks.decided_text(approval.title, approval.decision.value, decided_by)
        try:
            await self._call(
                lambda client: client.chat_update(channel=channel, ts=ts, blocks=content, text=text)
            )
        except Exception as exc:
            log.warning("chat.update after a decision failed: %s", type(exc).__name__)
            await self.audit(
                {
                    "kind": AuditKind.MESSAGE_UPDATE_FAILED,
                    "run_id": run_id,
                    "step": record.path,
                    "reason": type(exc).__name__,
                }
            )

    # -- helpers ------------------------------------------------------------------------------------------
    async def _call(self, fn: Callable[[WebClient], Any]) -> Any:
        """Run a (blocking) Web API call off the event loop."""
        return await asyncio.to_thread(lambda: fn(self._slack()))

    async def _ephemeral(self, channel: str, user: str, text: str) -> None:
        if not channel:
            return
        try:
            await self._call(lambda client: client.chat_postEphemeral(channel=channel, user=user, text=text))
        except Exception as exc:
            log.warning("chat.postEphemeral failed: %s", type(exc).__name__)

    async def audit(self, event: dict[str, Any]) -> None:
        """Hand one event to the audit trail (sync or async callable); its failure is logged, not raised."""
        full = {"at": self._now().isoformat(), "via": VIA, **event}
        full["kind"] = str(full["kind"])
        try:
            result = self._audit_fn(full)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("audit of %s failed", full["kind"])


def _title(message_blocks: list[Any]) -> str:
    for block in message_blocks:
        if isinstance(block, dict) and block.get("type") == "header":
            return str((block.get("text") or {}).get("text", ""))
    return ""
