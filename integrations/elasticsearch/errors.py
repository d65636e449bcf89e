"""Turn the client's exceptions into :class:`ActionError` with a type and a retry verdict.

Connection trouble, 408, 429 and 5xx may pass with time: retryable. Anything else the cluster
refused (400 bad query, 401/403 credentials, 404 missing index, 409 conflict) fails the step at
once, carrying Elasticsearch's own reason instead of a stack trace.
"""

from __future__ import annotations

from typing import Any

import elastic_transport
import elasticsearch

from engine.sdk import ActionError

_MAX_REASON = 1000

#: HTTP status → (error type, retryable) for statuses with a fixed meaning.
_BY_STATUS: dict[int, tuple[str, bool]] = {
    400: ("BadRequest", False),
    401: ("Unauthorized", False),
    403: ("Forbidden", False),
    404: ("NotFound", False),
    408: ("Timeout", True),
    409: ("Conflict", False),
    413: ("TooLarge", False),
    429: ("TooManyRequests", True),
}


class NotConfigured(ActionError):
    """The Elasticsearch connection is not configured (or configured wrongly)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type="NotConfigured", retryable=False)


def error_reason(body: Any) -> tuple[str, str]:
    """Elasticsearch's error type and most specific reason from a response body.

    The root cause is preferred: for a failed search it names the bad clause, while the top
    level only says ``all shards failed``.
    """
    if not isinstance(body, dict):
        return "", str(body)[:_MAX_REASON] if body else ""
    error = body.get("error")
    if isinstance(error, str):
        return "", error[:_MAX_REASON]
    if not isinstance(error, dict):
        return "", ""
    causes = error.get("root_cause")
    best: dict[str, Any] = error
    if isinstance(causes, list) and causes and isinstance(causes[0], dict) and causes[0].get("reason"):
        best = causes[0]
    elif isinstance(error.get("caused_by"), dict) and error["caused_by"].get("reason"):
        best = error["caused_by"]
    return str(best.get("type", error.get("type", ""))), str(best.get("reason", ""))[:_MAX_REASON]


def translate(exc: Exception, *, operation: str) -> ActionError:
    """Map a client exception to an :class:`ActionError`.

    Args:
        exc: What the client raised.
        operation: What we tried, for the message (e.g. ``search logs-*``); never holds secrets.
    """
    if isinstance(exc, elasticsearch.ApiError):
        return _from_api_error(exc, operation)
    if isinstance(exc, elastic_transport.TlsError):
        return ActionError(f"{operation}: TLS failed: {_short(exc)}", type="TLSError", retryable=False)
    if isinstance(exc, elastic_transport.ConnectionTimeout):
        return ActionError(f"{operation}: timed out: {_short(exc)}", type="Timeout", retryable=True)
    if isinstance(exc, elastic_transport.ConnectionError):
        return ActionError(f"{operation}: cannot connect: {_short(exc)}", type="Unavailable", retryable=True)
    if isinstance(exc, elastic_transport.SerializationError):
        return ActionError(
            f"{operation}: unreadable response: {_short(exc)}", type="BadResponse", retryable=False
        )
    if isinstance(exc, elastic_transport.TransportError):
        return ActionError(f"{operation}: transport error: {_short(exc)}", type="Unavailable", retryable=True)
    return ActionError(
        f"{operation}: {type(exc).__name__}: {_short(exc)}", type="Unexpected", retryable=False
    )


def _from_api_error(exc: elasticsearch.ApiError, operation: str) -> ActionError:
    if isinstance(exc, elasticsearch.UnsupportedProductError):
        return ActionError(f"{operation}: {exc.message}", type="UnsupportedServer", retryable=False)
    es_type, reason = error_reason(exc.body)
    return from_status(exc.meta.status, es_type, reason or str(exc.message), operation=operation)


def from_status(status: int, es_type: str, reason: str, *, operation: str) -> ActionError:
    """An :class:`ActionError` for an HTTP status and Elasticsearch's error type and reason.

    Also used for the per-item errors of a bulk request, which arrive without an exception.
    """
    if status >= 500:
        kind, retryable = "Unavailable", True
    else:
        kind, retryable = _BY_STATUS.get(status, ("ClientError", False))
    if status == 404 and es_type == "index_not_found_exception":
        kind = "IndexNotFound"
    detail = f"{reason[:_MAX_REASON]} [{es_type}]" if es_type else reason[:_MAX_REASON]
    return ActionError(
        f"{operation}: Elasticsearch answered {status}: {detail}", type=kind, retryable=retryable
    )


def _short(exc: BaseException) -> str:
    return str(exc)[:_MAX_REASON]
