"""``email.send``: a message rendered from a template (or literal text) delivered over SMTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from engine.sdk import ActionContext, ActionError, action
from integrations.email.config import SECRETS, smtp_settings
from integrations.email.message import build_message
from integrations.email.models import SendParams, SendResult, bare
from integrations.email.smtp import deliver
from integrations.email.templates import RenderedEmail, one_line, render_email, templates_dir


@action("email.send", optional_secrets=SECRETS)
def send(ctx: ActionContext, params: SendParams) -> dict[str, Any]:
    """Send an email; returns {message_id, subject, accepted, refused, sent_at}.

    The body comes from ``template`` (``playbooks/templates/email/<name>.subject.j2``, ``.txt.j2``
    and optionally ``.html.j2``, rendered in a sandbox with ``vars``; values in the HTML part are
    escaped) or from a literal ``subject`` and ``text``. The session uses STARTTLS unless
    configured otherwise (see :mod:`integrations.email.config`). SMTP has no idempotency: a retry
    after a lost answer may deliver twice, with the same ``Message-ID`` (derived from the step's
    idempotency key) so mail clients can tell the copies apart from new messages.
    """
    settings = smtp_settings(ctx)
    sender = params.sender or settings.sender
    if sender is None:
        raise ActionError("no sender: give `from` or set SMTP_FROM", type="NotConfigured", retryable=False)
    if params.template is not None:
        content = render_email(params.template, params.vars, templates_dir(ctx))
    else:
        assert params.subject is not None and params.text is not None
        content = RenderedEmail(subject=one_line(params.subject), text=params.text)
    message = build_message(
        content,
        sender=sender,
        to=params.to,
        cc=params.cc,
        reply_to=params.reply_to,
        idempotency_key=ctx.idempotency_key,
        run_id=ctx.run_id,
    )
    recipients = list(dict.fromkeys(bare(a) for a in [*params.to, *params.cc, *params.bcc]))
    refused = deliver(settings, message, bare(sender), recipients)
    # When the server took it: the evidence a legal clock is judged by.
    sent_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return SendResult(
        message_id=str(message["Message-ID"]),
        subject=content.subject,
        accepted=[r for r in recipients if r not in refused],
        refused=refused,
        sent_at=sent_at,
    ).model_dump()
