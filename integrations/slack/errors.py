"""Turn slack-sdk exceptions into :class:`ActionError` with a type and a retry verdict.

Rate limits, Slack's own outages (5xx, ``internal_error``, ...) and connection trouble may pass
with time: retryable. Credentials, scopes, unknown channels and missing membership will not:
the step fails at once, carrying Slack's error code.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.error import URLError

from slack_sdk.errors import SlackApiError, SlackClientError, SlackRequestError

from engine.sdk import ActionError

_RETRYABLE_CODES = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)

#: Slack error code → fireline error type, for codes that will not change on a retry.
_TYPES: dict[str, str] = {
    "invalid_auth": "Unauthorized",
    "not_authed": "Unauthorized",
    "account_inactive": "Unauthorized",
    "token_revoked": "Unauthorized",
    "token_expired": "Unauthorized",
    "missing_scope": "Forbidden",
    "no_permission": "Forbidden",
    "restricted_action": "Forbidden",
    "channel_not_found": "ChannelNotFound",
    "not_in_channel": "NotInChannel",
    "is_archived": "ChannelArchived",
    "message_not_found": "MessageNotFound",
    "user_not_found": "NotFound",
    "no_such_subteam": "NotFound",
    "invalid_blocks": "InvalidBlocks",
    "invalid_blocks_format": "InvalidBlocks",
    "msg_too_long": "InvalidArguments",
    "no_text": "InvalidArguments",
    "invalid_name": "InvalidArguments",
    "invalid_name_specials": "InvalidArguments",
    "invalid_name_maxlength": "InvalidArguments",
    "invalid_name_required": "InvalidArguments",
}
_MAX_DETAIL = 300


class SlackNotConfigured(ActionError):
    """Slack is not configured (or configured wrongly)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type="NotConfigured", retryable=False)


def slack_error_code(exc: SlackApiError) -> str:
    """Slack's error code (``channel_not_found``) from an API error, or ``http_<status>``."""
    data: Any = exc.response.data if exc.response is not None else None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])[:100]
    status = exc.response.status_code if exc.response is not None else 0
    return f"http_{status}"


def translate(exc: Exception, *, operation: str) -> ActionError:
    """Map an exception from a Slack call to an :class:`ActionError`.

    Args:
        exc: What slack-sdk (or urllib underneath) raised.
        operation: The Web API method, for the message; never holds a token.
    """
    if isinstance(exc, ActionError):
        return exc
    if isinstance(exc, SlackApiError):
        return _from_api_error(exc, operation)
    if isinstance(exc, SlackRequestError):
        return ActionError(f"slack {operation}: {_short(exc)}", type="InvalidArguments", retryable=False)
    if isinstance(exc, URLError | ConnectionError | TimeoutError | socket.timeout):
        reason = getattr(exc, "reason", exc)
        return ActionError(f"slack {operation}: cannot connect: {_short(reason)}", type="Unavailable")
    if isinstance(exc, SlackClientError):
        return ActionError(f"slack {operation}: {_short(exc)}", type="SlackError", retryable=False)
    return ActionError(
        f"slack {operation}: {type(exc).__name__}: {_short(exc)}", type="Unexpected", retryable=False
    )


def _from_api_error(exc: SlackApiError, operation: str) -> ActionError:
    code = slack_error_code(exc)
    status = exc.response.status_code if exc.response is not None else 0
    if status == 429 or code == "ratelimited":
        return ActionError(
            f"slack {operation}: rate limited (ratelimited)", type="RateLimited", retryable=True
        )
    if status >= 500 or code in _RETRYABLE_CODES:
        return ActionError(
            f"slack {operation}: Slack is unavailable ({code})", type="Unavailable", retryable=True
        )
    kind = _TYPES.get(code, "SlackError")
    return ActionError(f"slack {operation}: {code}{_needed_scope(exc)}", type=kind, retryable=False)


def _needed_scope(exc: SlackApiError) -> str:
    data: Any = exc.response.data if exc.response is not None else None
    if isinstance(data, dict) and data.get("error") == "missing_scope" and data.get("needed"):
        return f" (needs {str(data['needed'])[:100]})"
    return ""


def _short(value: object) -> str:
    return str(value)[:_MAX_DETAIL]
