"""Role checks for JSON endpoints (the receiver's management API): 401/403, audited, before the handler.

Usage::

    Route("/runs/{run_id}/cancel", protect(access, Role.ADMIN, cancel_run), methods=["POST"])

The handler finds the caller in ``request.state.principal``. Bearer tokens need no CSRF token; a
cookie session must send its CSRF token in the ``X-CSRF-Token`` header for anything but GET/HEAD.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.access.gate import Access
from engine.access.models import AccessDenied, Role

Endpoint = Callable[[Request], Awaitable[Response]]
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def refusal(exc: AccessDenied) -> Response:
    """The JSON answer to a refused request."""
    headers = {"WWW-Authenticate": 'Bearer realm="fireline"'} if exc.status == 401 else None
    return JSONResponse({"error": "unauthorized", "reason": exc.reason}, exc.status, headers=headers)


def protect(access: Access, role: Role, endpoint: Endpoint) -> Endpoint:
    """``endpoint`` behind a ``role`` check (and CSRF for cookie sessions on unsafe methods)."""

    async def guarded(request: Request) -> Response:
        try:
            principal = access.require(request, role)
            if request.method not in _SAFE_METHODS:
                access.check_csrf(principal, request.headers.get(CSRF_HEADER))
        except AccessDenied as exc:
            await access.refused(request, exc)
            return refusal(exc)
        request.state.principal = principal
        return await endpoint(request)

    guarded.__name__ = getattr(endpoint, "__name__", "guarded")
    return guarded
