"""``protect``: management endpoints refuse (401/403, audited) before their handler runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.access import Access, AccessSettings, Role, hash_token, protect


async def test_protected_endpoints_check_role_csrf_and_audit(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(
        json.dumps(
            {
                hash_token("tok-view"): {"user": "vera", "role": "viewer"},
                hash_token("tok-admin"): {"user": "ada", "role": "admin"},
            }
        )
    )
    events: list[dict[str, Any]] = []
    access = Access(AccessSettings(tokens_file=tokens), events.append)
    calls: list[str] = []

    async def cancel(request: Request) -> Response:
        calls.append(request.state.principal.user)
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/runs/x/cancel", protect(access, Role.ADMIN, cancel), methods=["POST"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r.test") as http:
        anonymous = await http.post("/runs/x/cancel")
        viewer = await http.post("/runs/x/cancel", headers={"Authorization": "Bearer tok-view"})
        admin = await http.post("/runs/x/cancel", headers={"Authorization": "Bearer tok-admin"})
        started = access.start_session("tok-admin")
        assert started is not None
        http.cookies.set("fireline_session", started[0])
        no_csrf = await http.post("/runs/x/cancel")
        with_csrf = await http.post("/runs/x/cancel", headers={"X-CSRF-Token": started[1].csrf})

    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    assert viewer.status_code == 403 and viewer.json()["reason"] == "needs the admin role; vera is viewer"
    assert admin.status_code == 200 and no_csrf.status_code == 403 and with_csrf.status_code == 200
    assert calls == ["ada", "ada"]
    assert [(e["status"], e["user"]) for e in events] == [(401, None), (403, "vera"), (403, "ada")]
