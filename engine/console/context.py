"""What every console view shares, and the guard that checks roles before a view runs.

A refused request is audited, then answered: a page request without credentials is sent to the
login page (303), anything else gets 401 (with ``WWW-Authenticate: Bearer``) or 403.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from engine.access import Access, AccessDenied, Principal, Role, Unauthenticated
from engine.console.listing import WaitingIndex
from engine.console.render import Templates
from engine.console.source import RunSource
from engine.settings import Settings
from engine.spec.catalog import Catalog
from engine.stack.state import web_ui_address, workflow_link

CatalogLoader = Callable[[], Catalog]
View = Callable[[Request, Principal], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]
#: Run ids the console accepts in URLs (Temporal allows more; fireline makes these).
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,254}$")
MAX_FORM_BYTES = 16_384


class Kind(StrEnum):
    """What a view answers with, which decides how a refusal looks."""

    PAGE = "page"
    FRAGMENT = "fragment"
    API = "api"


@dataclass
class Console:
    """The console's collaborators."""

    settings: Settings
    access: Access
    source: RunSource
    catalog_loader: CatalogLoader
    templates: Templates
    reviews_dir: Path
    web_ui_url: str | None = None
    refresh_ms: int = 5000
    waiting: WaitingIndex = field(init=False)

    def __post_init__(self) -> None:
        self.waiting = WaitingIndex(self.source)

    @property
    def prefix(self) -> str:
        """Where the console is mounted."""
        return self.templates.prefix

    def temporal_url(self, run_id: str) -> str | None:
        """The run in the Temporal Web UI: configured address, else the local stack's."""
        base = web_ui_address(self.web_ui_url or self.settings.temporal.web_ui_url, self.settings.home)
        return workflow_link(base, self.settings.temporal.namespace, run_id) if base else None

    def login_url(self, request: Request) -> str:
        """The login page, returning to this request's page afterwards."""
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return f"{self.prefix}/login?" + urllib.parse.urlencode({"next": target})

    def safe_next(self, target: str | None) -> str:
        """``target`` when it is a console page on this server, else the incident list."""
        default = f"{self.prefix}/"
        if not target or "\\" in target or any(ord(c) < 32 for c in target):
            return default
        parts = urllib.parse.urlsplit(target)
        if parts.scheme or parts.netloc or target.startswith("//"):
            return default
        if parts.path != self.prefix and not parts.path.startswith(f"{self.prefix}/"):
            return default
        return target

    async def refuse(self, request: Request, exc: AccessDenied, kind: Kind) -> Response:
        """Audit a refusal and answer it."""
        await self.access.refused(request, exc)
        if isinstance(exc, Unauthenticated) and kind is Kind.PAGE and request.method in ("GET", "HEAD"):
            return RedirectResponse(self.login_url(request), status_code=303)
        if kind is Kind.PAGE:
            return self.templates.page(
                "error.html", exc.principal, status_code=exc.status, title="Not allowed", message=exc.reason
            )
        headers = {"WWW-Authenticate": 'Bearer realm="fireline"'} if exc.status == 401 else None
        return JSONResponse({"error": "unauthorized", "reason": exc.reason}, exc.status, headers=headers)

    def guard(self, role: Role, kind: Kind, view: View) -> Endpoint:
        """``view`` behind a role check."""

        async def endpoint(request: Request) -> Response:
            try:
                principal = self.access.require(request, role)
            except AccessDenied as exc:
                return await self.refuse(request, exc, kind)
            return await view(request, principal)

        endpoint.__name__ = getattr(view, "__name__", "endpoint")
        return endpoint

    def not_found(self, principal: Principal | None, message: str) -> Response:
        """A 404 page."""
        return self.templates.page(
            "error.html", principal, status_code=404, title="Not found", message=message
        )


async def read_form(request: Request) -> dict[str, str] | None:
    """A small url-encoded form (first value of each field), or None when it is too big or unreadable."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form
