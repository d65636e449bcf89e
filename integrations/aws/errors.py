"""Turn botocore's exceptions into :class:`ActionError` with a type and a retry verdict."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from engine.sdk import ActionError

_MAX_REASON = 500

#: AWS error code → (fireline error type, retryable).
_BY_CODE: dict[str, tuple[str, bool]] = {
    "NoSuchEntity": ("NotFound", False),
    "AccessDenied": ("Forbidden", False),
    "AccessDeniedException": ("Forbidden", False),
    "UnauthorizedOperation": ("Forbidden", False),
    "InvalidClientTokenId": ("Unauthorized", False),
    "SignatureDoesNotMatch": ("Unauthorized", False),
    "ExpiredToken": ("Unauthorized", False),
    "Throttling": ("TooManyRequests", True),
    "ThrottlingException": ("TooManyRequests", True),
    "RequestLimitExceeded": ("TooManyRequests", True),
    "LimitExceeded": ("LimitExceeded", False),
    "ValidationError": ("InvalidParameter", False),
    "InvalidInput": ("InvalidParameter", False),
    "MalformedPolicyDocument": ("InvalidParameter", False),
    "EntityTemporarilyUnmodifiable": ("Conflict", True),
    "ConcurrentModification": ("Conflict", True),
    "ServiceFailure": ("Unavailable", True),
    "InternalFailure": ("Unavailable", True),
    "ServiceUnavailable": ("Unavailable", True),
}


def translate(exc: Exception, *, operation: str, not_found: str = "NotFound") -> ActionError:
    """Map what boto3 raised to an :class:`ActionError`.

    Args:
        exc: The exception.
        operation: What we tried (e.g. ``UpdateAccessKey alice``); never holds secrets.
        not_found: The error type for ``NoSuchEntity`` (``UserNotFound``, ``RoleNotFound`` ...).
    """
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", ""))[:_MAX_REASON]
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        kind, retryable = _BY_CODE.get(
            code, ("Unavailable", True) if status >= 500 else ("ClientError", False)
        )
        if kind == "NotFound":
            kind = not_found
        return ActionError(f"{operation}: AWS answered {code}: {message}", type=kind, retryable=retryable)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | NoRegionError):
        return ActionError(f"{operation}: {exc}", type="NotConfigured", retryable=False)
    if isinstance(exc, ParamValidationError):
        return ActionError(f"{operation}: {str(exc)[:_MAX_REASON]}", type="InvalidParameter", retryable=False)
    if isinstance(exc, ReadTimeoutError):
        return ActionError(f"{operation}: timed out", type="Timeout", retryable=True)
    if isinstance(exc, ConnectionError):
        return ActionError(
            f"{operation}: cannot connect: {str(exc)[:_MAX_REASON]}", type="Unavailable", retryable=True
        )
    if isinstance(exc, BotoCoreError):
        return ActionError(
            f"{operation}: {type(exc).__name__}: {str(exc)[:_MAX_REASON]}", type="Unexpected", retryable=False
        )
    return ActionError(
        f"{operation}: {type(exc).__name__}: {str(exc)[:_MAX_REASON]}", type="Unexpected", retryable=False
    )
