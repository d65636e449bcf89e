"""Errors of the ingestion path; all derive from :class:`engine.errors.FirelineError`."""

from __future__ import annotations

from collections.abc import Mapping

from engine.errors import FirelineError


class IngestError(FirelineError):
    """Something on the way from an alert to a run went wrong."""


class RequestRejected(IngestError):
    """A request is refused with an HTTP status, a short code and a reason the sender can act on."""

    def __init__(
        self,
        status: int,
        code: str,
        reason: str,
        *,
        path: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.reason = reason
        self.path = path
        self.headers = dict(headers or {})
        super().__init__(f"{status} {code}: {path + ': ' if path else ''}{reason}")


class AuthFailed(RequestRejected):
    """The request carries no valid signature or token (401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(401, "unauthorized", reason, headers={"WWW-Authenticate": 'Bearer realm="fireline"'})


class TemporalUnavailable(IngestError):
    """Temporal could not take the alert now; the sender should retry (503)."""


class SpoolUnavailable(IngestError):
    """The local alert spool could not be written; nothing was accepted (503)."""


class ElasticsearchUnavailable(IngestError):
    """Alert documents could not be read from Elasticsearch now (503)."""


class DeadLetterNotFound(IngestError):
    """No dead letter with that id."""
