"""Signing in (a token for a session cookie) and out; both forms carry CSRF tokens."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engine.access import CSRF_FIELD, Access, AccessDenied, Forbidden, Principal, Unauthenticated
from engine.console.context import Console, Kind, read_form


def _current(access: Access, request: Request) -> Principal | None:
    try:
        return access.authenticate(request)
    except AccessDenied:
        return None


async def login_form(
    console: Console, request: Request, *, message: str = "", status: int = 200, target: str | None = None
) -> Response:
    """``GET /console/login`` (and the form again after a wrong token)."""
    csrf, cookie = console.access.login_challenge()
    response = console.templates.page(
        "login.html",
        None,
        status_code=status,
        next=console.safe_next(target or request.query_params.get("next")),
        message=message,
        csrf_field=CSRF_FIELD,
        csrf=csrf,
    )
    console.access.set_login_challenge(request, response, cookie)
    return response


async def login(console: Console, request: Request) -> Response:
    """``POST /console/login``: check the form's CSRF, then exchange the token for a session."""
    access = console.access
    form = await read_form(request) or {}
    if not access.check_login_challenge(request, form.get(CSRF_FIELD)):
        return await console.refuse(request, Forbidden("the login form expired; load it again"), Kind.PAGE)
    started = access.start_session(form.get("token", "").strip())
    if started is None:
        await access.refused(request, Unauthenticated("login with a token that is not valid"))
        return await login_form(
            console, request, message="That token is not valid.", status=401, target=form.get("next")
        )
    cookie, principal = started
    target = console.safe_next(form.get("next"))
    response = RedirectResponse(target, status_code=303)
    access.set_session(request, response, cookie)
    access.clear_login_challenge(request, response)
    event = {"kind": "access.login", "outcome": "ok", "user": principal.user, "role": principal.role.value}
    await access.audit(request, event)
    return response


async def logout(console: Console, request: Request) -> Response:
    """``POST /console/logout``: end the session (its CSRF token is required)."""
    access = console.access
    form = await read_form(request) or {}
    principal = _current(access, request)
    if principal is None:
        return RedirectResponse(f"{console.prefix}/login", status_code=303)
    try:
        access.check_csrf(principal, form.get(CSRF_FIELD))
    except AccessDenied as exc:
        return await console.refuse(request, exc, Kind.PAGE)
    response = RedirectResponse(f"{console.prefix}/login", status_code=303)
    access.end_session(request, response)
    await access.audit(request, {"kind": "access.logout", "outcome": "ok", "user": principal.user})
    return response
