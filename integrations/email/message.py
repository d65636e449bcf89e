"""Build the MIME message: headers, plain text and an HTML alternative, a stable Message-ID."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formatdate

from integrations.email.models import bare
from integrations.email.templates import RenderedEmail


def message_id(idempotency_key: str, sender: str) -> str:
    """``<hash@sender-domain>``: the same for every attempt of one step, so a retry is recognisable."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    domain = bare(sender).rpartition("@")[2] or "fireline.invalid"
    return f"<fireline.{digest}@{domain}>"


def build_message(
    content: RenderedEmail,
    *,
    sender: str,
    to: list[str],
    cc: list[str],
    reply_to: str | None,
    idempotency_key: str,
    run_id: str,
) -> EmailMessage:
    """The message to send; Bcc recipients are never written into it."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = content.subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id(idempotency_key, sender)
    msg["X-Fireline-Run"] = run_id
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(content.text)
    if content.html is not None:
        msg.add_alternative(content.html, subtype="html")
    return msg
