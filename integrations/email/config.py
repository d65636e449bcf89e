"""Where the mail server is and how to reach it, resolved inside the action.

Settings (``ctx.settings`` first, then the environment): ``SMTP_HOST`` (required), ``SMTP_PORT``
(587, or 465 for implicit TLS), ``SMTP_SECURITY`` (``starttls`` by default: the session must be
upgraded to TLS before anything is sent; ``tls``: TLS from the first byte; ``none``: plain text,
for a local relay only, and never with a password), ``SMTP_CA_FILE`` (a CA bundle for a private
server), ``SMTP_TIMEOUT`` (seconds), ``SMTP_FROM`` (the default sender). Secrets (optional):
``SMTP_USERNAME`` and ``SMTP_PASSWORD``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from engine.sdk import ActionContext, ActionError

HOST = "SMTP_HOST"
PORT = "SMTP_PORT"
SECURITY = "SMTP_SECURITY"
CA_FILE = "SMTP_CA_FILE"
TIMEOUT = "SMTP_TIMEOUT"
FROM = "SMTP_FROM"
USERNAME = "SMTP_USERNAME"
PASSWORD = "SMTP_PASSWORD"
SECRETS: tuple[str, ...] = (USERNAME, PASSWORD)


class Security(StrEnum):
    """How the SMTP session is protected."""

    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


class EmailNotConfigured(ActionError):
    """SMTP is not configured (or configured in a way fireline refuses)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type="NotConfigured", retryable=False)


@dataclass(frozen=True)
class SmtpSettings:
    """Everything needed to open a session; ``repr`` never shows the password."""

    host: str
    port: int
    security: Security = Security.STARTTLS
    ca_file: str | None = None
    timeout: float = 30.0
    sender: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def smtp_settings(ctx: ActionContext) -> SmtpSettings:
    """Resolve the SMTP settings for one attempt.

    Raises:
        EmailNotConfigured: no host, a bad port, security or timeout, half a login, an unreadable
            CA file, or a password with ``SMTP_SECURITY=none``.
    """
    host = ctx.setting(HOST)
    if host is None:
        raise EmailNotConfigured(f"{HOST} is not set; point it at the mail relay")
    try:
        security = Security((ctx.setting(SECURITY) or Security.STARTTLS.value).lower())
    except ValueError:
        raise EmailNotConfigured(f"{SECURITY} must be starttls, tls or none") from None
    port_text = ctx.setting(PORT) or ("465" if security is Security.TLS else "587")
    timeout_text = ctx.setting(TIMEOUT) or "30"
    try:
        port, timeout = int(port_text), float(timeout_text)
    except ValueError:
        raise EmailNotConfigured(f"{PORT} must be a port number and {TIMEOUT} a number of seconds") from None
    if not 0 < port < 65536 or timeout <= 0:
        raise EmailNotConfigured(f"{PORT} must be 1-65535 and {TIMEOUT} positive")
    username, password = ctx.optional_secret(USERNAME), ctx.optional_secret(PASSWORD)
    if (username is None) != (password is None):
        raise EmailNotConfigured(f"set both {USERNAME} and {PASSWORD}, or neither")
    if password is not None and security is Security.NONE:
        raise EmailNotConfigured(f"refusing to send the SMTP password in clear text ({SECURITY}=none)")
    ca_file = ctx.setting_file(CA_FILE)
    return SmtpSettings(
        host=host,
        port=port,
        security=security,
        ca_file=ca_file,
        timeout=timeout,
        sender=ctx.setting(FROM),
        username=username,
        password=password,
    )
