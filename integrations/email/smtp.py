"""Deliver a message over SMTP, TLS first, and turn the server's answers into :class:`ActionError`.

With ``starttls`` (the default) a server that does not offer STARTTLS gets nothing: neither the
password nor the message. 4xx answers and dropped connections may pass with time (retryable);
5xx answers, refused logins and a failed TLS handshake will not.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from engine.sdk import ActionError
from integrations.email.config import Security, SmtpSettings

_DETAIL = 300


def tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    """A verifying client context (the configured CA bundle, else the system's)."""
    return ssl.create_default_context(cafile=settings.ca_file)


def deliver(
    settings: SmtpSettings, message: EmailMessage, sender: str, recipients: list[str]
) -> dict[str, str]:
    """Send ``message`` to ``recipients``; returns the refused ones with the server's answer.

    Raises:
        ActionError: the session failed, or every recipient was refused.
    """
    where = f"SMTP {settings.host}:{settings.port}"
    try:
        with _open(settings) as smtp:
            _secure(smtp, settings, where)
            if settings.username is not None and settings.password is not None:
                smtp.login(settings.username, settings.password)
            refused = smtp.send_message(message, from_addr=sender, to_addrs=recipients)
    except ActionError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise ActionError(
            f"{where}: login refused ({exc.smtp_code})", type="Unauthorized", retryable=False
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        answers = "; ".join(
            f"{rcpt}: {_answer(code, text)}" for rcpt, (code, text) in list(exc.recipients.items())[:5]
        )
        temporary = all(400 <= code < 500 for code, _ in exc.recipients.values())
        raise ActionError(
            f"{where}: every recipient was refused: {answers}", type="RecipientsRefused", retryable=temporary
        ) from None
    except smtplib.SMTPSenderRefused as exc:
        raise ActionError(
            f"{where}: sender refused: {_answer(exc.smtp_code, exc.smtp_error)}",
            type="SenderRefused",
            retryable=400 <= exc.smtp_code < 500,
        ) from None
    except smtplib.SMTPResponseException as exc:
        temporary = 400 <= exc.smtp_code < 500
        raise ActionError(
            f"{where}: {_answer(exc.smtp_code, exc.smtp_error)}",
            type="Unavailable" if temporary else "Refused",
            retryable=temporary,
        ) from None
    except ssl.SSLError as exc:
        raise ActionError(
            f"{where}: TLS failed: {str(exc)[:_DETAIL]}", type="TLSError", retryable=False
        ) from None
    except (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError) as exc:
        raise _unavailable(where, exc) from None
    except smtplib.SMTPException as exc:
        # Before OSError, its base: the server does not support what was asked (AUTH, SMTPUTF8...).
        raise ActionError(f"{where}: {str(exc)[:_DETAIL]}", type="SMTPError", retryable=False) from None
    except OSError as exc:
        raise _unavailable(where, exc) from None
    return {rcpt: _answer(code, text) for rcpt, (code, text) in refused.items()}


def _unavailable(where: str, exc: BaseException) -> ActionError:
    return ActionError(
        f"{where}: cannot deliver: {type(exc).__name__}: {str(exc)[:_DETAIL]}",
        type="Unavailable",
        retryable=True,
    )


def _open(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.security is Security.TLS:
        return smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=tls_context(settings)
        )
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)


def _secure(smtp: smtplib.SMTP, settings: SmtpSettings, where: str) -> None:
    smtp.ehlo()
    if settings.security is not Security.STARTTLS:
        return
    if not smtp.has_extn("starttls"):
        raise ActionError(
            f"{where} does not offer STARTTLS; refusing to send in clear text "
            "(set SMTP_SECURITY=none only for a local relay)",
            type="StartTLSUnavailable",
            retryable=False,
        )
    smtp.starttls(context=tls_context(settings))
    smtp.ehlo()


def _answer(code: int, text: bytes | str) -> str:
    words = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(words.split())[:_DETAIL]}"
