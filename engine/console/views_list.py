"""The incident list: the page, the rows fragment its script refreshes, and the same as JSON."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from engine.access import Principal
from engine.console.context import Console
from engine.console.listing import Filters, Listing, build_listing

log = logging.getLogger("fireline.console")


async def _listing(console: Console, request: Request) -> Listing | str:
    """This request's page of incidents, or why it cannot be had."""
    filters = Filters.from_query(request.query_params)
    try:
        runs = await console.source.runs()
    except Exception as exc:  # Temporal down or slow: the page says so and the script retries
        log.warning("listing runs failed: %s", type(exc).__name__)
        return f"Temporal did not answer the run listing ({type(exc).__name__}); retrying"
    listing = build_listing(runs, filters)
    await console.waiting.fill(listing.rows)
    return listing


async def incidents(console: Console, request: Request, principal: Principal) -> Response:
    """``GET /console/``: open and recent incidents."""
    found = await _listing(console, request)
    if isinstance(found, str):
        return console.templates.page(
            "error.html", principal, status_code=503, title="Temporal unavailable", message=found
        )
    query = found.filters.query()
    rows_url = f"{console.prefix}/rows" + (f"?{urlencode(query)}" if query else "")
    return console.templates.page(
        "incidents.html", principal, listing=found, rows_url=rows_url, refresh_ms=console.refresh_ms
    )


async def rows(console: Console, request: Request, principal: Principal) -> Response:
    """``GET /console/rows``: the table body alone, for the page's auto-refresh."""
    found = await _listing(console, request)
    if isinstance(found, str):
        return HTMLResponse(found, status_code=503)
    body = console.templates.render("_rows.html", {"listing": found, "principal": principal})
    return HTMLResponse(body, headers={"x-fireline-matched": str(found.matched)})


async def runs_json(console: Console, request: Request, principal: Principal) -> Response:
    """``GET /console/api/runs``: the same page of incidents as JSON."""
    found = await _listing(console, request)
    if isinstance(found, str):
        return JSONResponse({"error": "unavailable", "reason": found}, status_code=503)
    return JSONResponse(found.model_dump(mode="json"))
