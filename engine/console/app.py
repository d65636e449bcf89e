"""Assemble the console: its routes, mounted under one prefix with their own security headers.

Mount it into the receiver (or any Starlette app)::

    routes += console_routes(settings, lambda: temporal_client, lambda: catalog, audit_fn=audit.record)

Pages: ``/console/`` (incidents), ``/console/runs/<id>`` (+ ``/decide``, ``/reset``, ``/review``,
``/review.md``), ``/console/playbooks``, ``/console/login``, ``/console/logout``; JSON for tokens:
``/console/api/runs``, ``/console/api/runs/<id>``, ``/console/api/playbooks``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from engine.access import Access, AccessSettings, AuditFn, Principal, Role
from engine.console import reviews, views_auth, views_list
from engine.console.context import CatalogLoader, Console, Kind, View
from engine.console.plans import PlanCache
from engine.console.render import STATIC_DIR, Templates
from engine.console.security import SecurityHeaders
from engine.console.source import ClientFactory, RunSource, TemporalRunSource
from engine.console.views_playbooks import PlaybookViews
from engine.console.views_run import RunViews
from engine.settings import Settings

PREFIX = "/console"


def access_settings_of(settings: Settings) -> AccessSettings:
    """``settings.access`` once the settings model has that section; defaults until then."""
    found = getattr(settings, "access", None)
    return found if isinstance(found, AccessSettings) else AccessSettings()


def build_console(
    settings: Settings,
    client_factory: ClientFactory | None,
    catalog_loader: CatalogLoader,
    *,
    access: Access | None = None,
    audit_fn: AuditFn | None = None,
    source: RunSource | None = None,
    web_ui_url: str | None = None,
    reviews_dir: Path | None = None,
    prefix: str = PREFIX,
    refresh_ms: int = 5000,
) -> Console:
    """The console's collaborators (``source`` replaces Temporal in tests and benchmarks)."""
    if source is None:
        if client_factory is None:
            raise ValueError("console needs a client_factory or a source")
        source = TemporalRunSource(client_factory)
    return Console(
        settings=settings,
        access=access or Access(access_settings_of(settings), audit_fn),
        source=source,
        catalog_loader=catalog_loader,
        templates=Templates(prefix),
        reviews_dir=reviews_dir or settings.home / "reviews",
        web_ui_url=web_ui_url,
        refresh_ms=refresh_ms,
    )


def console_app(console: Console) -> Starlette:
    """The console as an ASGI app whose routes are relative to ``console.prefix``."""
    plans = PlanCache()
    run = RunViews(console, plans)
    books = PlaybookViews(console, plans)
    guard = console.guard

    def bound(view: Callable[[Console, Request, Principal], Awaitable[Response]]) -> View:
        return functools.partial(view, console)

    routes: list[BaseRoute] = [
        Route("/", guard(Role.VIEWER, Kind.PAGE, bound(views_list.incidents)), name="incidents"),
        Route("/rows", guard(Role.VIEWER, Kind.FRAGMENT, bound(views_list.rows)), name="rows"),
        Route("/runs/{run_id}", guard(Role.VIEWER, Kind.PAGE, run.page), name="run"),
        Route("/runs/{run_id}/decide", guard(Role.RESPONDER, Kind.PAGE, run.decide), methods=["POST"]),
        Route("/runs/{run_id}/reset", guard(Role.ADMIN, Kind.PAGE, run.reset), methods=["POST"]),
        Route("/runs/{run_id}/review", guard(Role.VIEWER, Kind.PAGE, bound(reviews.review_page))),
        Route("/runs/{run_id}/review.md", guard(Role.VIEWER, Kind.PAGE, bound(reviews.review_download))),
        Route("/playbooks", guard(Role.VIEWER, Kind.PAGE, books.page), name="playbooks"),
        Route("/api/runs", guard(Role.VIEWER, Kind.API, bound(views_list.runs_json))),
        Route("/api/runs/{run_id}", guard(Role.VIEWER, Kind.API, run.state_json)),
        Route("/api/playbooks", guard(Role.VIEWER, Kind.API, books.as_json)),
        Route("/login", functools.partial(views_auth.login_form, console), methods=["GET"]),
        Route("/login", functools.partial(views_auth.login, console), methods=["POST"]),
        Route("/logout", functools.partial(views_auth.logout, console), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])


def console_routes(
    settings: Settings,
    client_factory: ClientFactory | None,
    catalog_loader: CatalogLoader,
    *,
    access: Access | None = None,
    audit_fn: AuditFn | None = None,
    source: RunSource | None = None,
    web_ui_url: str | None = None,
    reviews_dir: Path | None = None,
    prefix: str = PREFIX,
    refresh_ms: int = 5000,
) -> list[BaseRoute]:
    """Routes to add to the receiver's app: ``/`` and ``prefix`` redirect to ``prefix/``, the rest is mounted.

    Args:
        settings: fireline settings (``approver_groups``, ``home``, ``temporal.web_ui_url``,
            ``access`` once it exists).
        client_factory: returns the Temporal client (or an awaitable of it).
        catalog_loader: returns the current playbook catalog (called per request: cache it).
        access: an :class:`Access` shared with other endpoints; built from settings when None.
        audit_fn: receives every login, logout, decision and refusal (sync or async).
        source: replaces Temporal (tests, benchmarks).
        web_ui_url: Temporal Web UI address; default: settings, then the local stack's state.
        reviews_dir: where review Markdown files are; default ``settings.home / "reviews"``.
        prefix: the mount point.
        refresh_ms: how often the incident list refreshes itself.
    """
    console = build_console(
        settings,
        client_factory,
        catalog_loader,
        access=access,
        audit_fn=audit_fn,
        source=source,
        web_ui_url=web_ui_url,
        reviews_dir=reviews_dir,
        prefix=prefix,
        refresh_ms=refresh_ms,
    )

    async def to_slash(request: Request) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"{prefix}/{query}", status_code=307)

    return [
        # The receiver's own address is where people land first: show them the incidents.
        Route("/", to_slash, methods=["GET", "HEAD"]),
        Route(prefix, to_slash, methods=["GET", "HEAD"]),
        Mount(prefix, app=console_app(console)),
    ]
