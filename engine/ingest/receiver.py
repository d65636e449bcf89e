"""The HTTP receiver: ``/healthz``, ``/readyz``, ``/metrics`` and ``POST /alerts/<source>``.

Order of checks for an alert request: size (413), authentication (401, before anything else is
read or touches Temporal), content type (415), rate per source (429), JSON (400), the source's
format (422 naming the field), then the hand-over to Temporal (202, or 503 to retry). Nothing an
attacker sends makes it answer 500; bodies and secrets never reach a log.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from engine.alerts.model import AlertSource
from engine.alerts.payload import PayloadInvalid
from engine.ingest.auth import Authenticator
from engine.ingest.body import check_content_type, parse_json, read_body
from engine.ingest.config import RECEIVER_SOURCES
from engine.ingest.core import Ingest
from engine.ingest.errors import (
    ElasticsearchUnavailable,
    RequestRejected,
    SpoolUnavailable,
    TemporalUnavailable,
)
from engine.ingest.models import ErrorBody, Via
from engine.ingest.ratelimit import RateLimiter
from engine.metrics import RejectReason, alert_rejected, metrics_route, reject_reason

logger = logging.getLogger("fireline.ingest")
RETRY_AFTER_S = 5


def error_response(
    status: int, code: str, reason: str, *, path: str = "", headers: dict[str, str] | None = None
) -> Response:
    """A JSON error answer."""
    body = ErrorBody(error=code, reason=reason, path=path)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


class Receiver:
    """Request handlers bound to one :class:`Ingest`."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest
        self.auth = Authenticator(ingest.config)
        self.rate = RateLimiter(ingest.config.rate_per_s, ingest.config.rate_burst)

    async def healthz(self, request: Request) -> Response:
        """The process is alive."""
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """Temporal answers and the catalog is loaded."""
        report = await self.ingest.ready()
        return JSONResponse(report.model_dump(), status_code=200 if report.ready else 503)

    async def alerts(self, request: Request) -> Response:
        """``POST /alerts/<source>``."""
        source = AlertSource(request.path_params["source"])
        claim: str | None = None
        try:
            raw = await read_body(
                request.stream(),
                declared_length=request.headers.get("content-length"),
                limit=self.ingest.config.max_body_bytes,
                timeout_s=self.ingest.config.body_timeout_s,
            )
            _, claim = self.auth.check(source, request.headers, raw)
            response = await self._accept(source, request, raw)
        except RequestRejected as exc:
            response = self._refuse(
                source, exc.status, exc.code, exc.reason, path=exc.path, headers=exc.headers
            )
        except ClientDisconnect:
            response = self._refuse(
                source, 400, "disconnected", "the client went away before the body arrived"
            )
        except Exception as exc:
            # A bug of ours, not the sender's fault: say so without echoing anything they sent.
            logger.error("receiver failed on a %s request: %s", source.value, type(exc).__name__)
            response = self._refuse(
                source, 500, "internal", "the receiver failed; the alert was not accepted"
            )
        if response.status_code >= 300:
            self.auth.release(claim)
        return response

    async def _accept(self, source: AlertSource, request: Request, raw: bytes) -> Response:
        check_content_type(request.headers.get("content-type"))
        wait = self.rate.acquire(source.value)
        if wait is not None:
            seconds = str(max(1, math.ceil(wait)))
            raise RequestRejected(
                429,
                "rate_limited",
                f"more than {self.ingest.config.rate_per_s:g} requests/s from {source.value}",
                headers={"Retry-After": seconds},
            )
        payload = parse_json(raw)
        try:
            result = await self.ingest.ingest_payload(source, payload, via=Via.RECEIVER)
        except PayloadInvalid as exc:
            return self._refuse(source, 422, "invalid_payload", exc.reason, path=exc.path)
        except TemporalUnavailable as exc:
            return self._refuse(
                source, 503, "unavailable", f"{exc}; retry later", headers={"Retry-After": str(RETRY_AFTER_S)}
            )
        except (ElasticsearchUnavailable, SpoolUnavailable) as exc:
            return self._refuse(
                source, 503, "unavailable", f"{exc}; retry later", headers={"Retry-After": str(RETRY_AFTER_S)}
            )
        return JSONResponse(result.model_dump(mode="json"), status_code=202)

    def _refuse(
        self,
        source: AlertSource,
        status: int,
        code: str,
        reason: str,
        *,
        path: str = "",
        headers: dict[str, str] | None = None,
    ) -> Response:
        shown = f"{path}: {reason}" if path else reason
        self.ingest.record_rejection(
            source.value,
            f"{status} {code}: {shown}",
            via=Via.RECEIVER,
            http_status=status,
            refusal=reject_reason(status, code),
        )
        return error_response(status, code, reason, path=path, headers=headers)


def build_app(ingest: Ingest, *, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The receiver's ASGI app; ``extra_routes`` lets other parts (Slack interactivity) share the port."""
    receiver = Receiver(ingest)
    sources = "|".join(s.value for s in RECEIVER_SOURCES)
    routes: list[BaseRoute] = [
        Route("/healthz", receiver.healthz, methods=["GET"]),
        Route("/readyz", receiver.readyz, methods=["GET"]),
        # Unauthenticated, as Prometheus scrapes it: bounded counters only (see engine.metrics).
        metrics_route(),
        Route("/alerts/{source:str}", _only(sources, receiver), methods=["POST"]),
        *extra_routes,
    ]
    app = Starlette(routes=routes)
    app.state.receiver = receiver
    return app


def _only(sources: str, receiver: Receiver) -> Callable[[Request], Awaitable[Response]]:
    allowed = set(sources.split("|"))

    async def endpoint(request: Request) -> Response:
        if request.path_params.get("source") not in allowed:
            alert_rejected(str(request.path_params.get("source", "")), RejectReason.UNKNOWN_SOURCE)
            known = ", ".join(sorted(allowed))
            return error_response(404, "not_found", f"no such alert source (use one of {known})")
        return await receiver.alerts(request)

    return endpoint
