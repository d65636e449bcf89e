"""The console over HTTP without a browser: sign-in, 401/403, CSRF, session expiry, audit, escaping,
reviews and security headers (an in-memory run source stands in for Temporal)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from engine.access import Access, AccessSettings
from engine.plan.state import Decision, JoinedAlert, StepStatus
from engine.spec.catalog import Catalog, validate_text
from tests.fixtures.actions import TEST_REGISTRY
from tests.fixtures.console import (
    AuditLog,
    FakeRunSource,
    bearer,
    console_app,
    pending_state,
    token,
    write_tokens,
)
from tests.workflow.test_playbook_run import APPROVAL_PLAYBOOK, HEAD

HOSTILE = '<script>alert("x")</script>'
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def catalog() -> Catalog:
    entry = validate_text(HEAD + APPROVAL_PLAYBOOK, "approve.yaml", TEST_REGISTRY)
    return Catalog(entries=[entry], by_name={"approve-then-act": entry})


@pytest.fixture
def source() -> FakeRunSource:
    fake = FakeRunSource()
    fake.add(
        pending_state("run-1", title=HOSTILE),
        alert={
            "id": "a-1",
            "title": HOSTILE,
            "fields": {"prompt": "<img src=x onerror=alert(1)>", HOSTILE: 1},
        },
    )
    return fake


@pytest.fixture
def audit() -> AuditLog:
    return AuditLog()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest_asyncio.fixture
async def http(
    tmp_path: Path, source: FakeRunSource, audit: AuditLog, clock: Clock
) -> AsyncIterator[httpx.AsyncClient]:
    access = Access(AccessSettings(tokens_file=write_tokens(tmp_path / "tokens.json")), audit, clock=clock)
    app = console_app(tmp_path, catalog(), source=source, audit=audit, access=access)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as client:
        yield client


async def sign_in(http: httpx.AsyncClient, who: str) -> str:
    """Sign in through the login form; returns the session's CSRF token."""
    form = await http.get("/console/login", params={"next": "/console/runs/run-1"})
    login_csrf = CSRF.search(form.text)
    assert login_csrf is not None
    answer = await http.post(
        "/console/login",
        data={"csrf_token": login_csrf.group(1), "token": token(who), "next": "/console/runs/run-1"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/console/runs/run-1"
    page = await http.get("/console/runs/run-1")
    found = CSRF.search(page.text)
    assert page.status_code == 200 and found is not None
    return found.group(1)


async def test_without_credentials_pages_redirect_to_login_and_apis_answer_401(
    http: httpx.AsyncClient, audit: AuditLog
) -> None:
    page = await http.get("/console/runs/run-1")
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=%2Fconsole%2Fruns%2Frun-1"
    api = await http.get("/console/api/runs")
    assert api.status_code == 401 and api.headers["www-authenticate"].startswith("Bearer")
    wrong = await http.get("/console/api/runs", headers={"Authorization": "Bearer guessed"})
    assert wrong.status_code == 401 and wrong.json()["reason"] == "bearer token is not valid"
    post = await http.post("/console/runs/run-1/decide", data={"step": "approve", "decision": "approve"})
    assert post.status_code == 401
    refusals = audit.refusals()
    assert [(e["status"], e["path"]) for e in refusals] == [
        (401, "/console/runs/run-1"),
        (401, "/console/api/runs"),
        (401, "/console/api/runs"),
        (401, "/console/runs/run-1/decide"),
    ]
    assert all("guessed" not in str(e) for e in audit.events)


async def test_a_viewer_reads_but_cannot_decide(
    http: httpx.AsyncClient, source: FakeRunSource, audit: AuditLog
) -> None:
    page = await http.get("/console/runs/run-1", headers=bearer("viewer"))
    assert page.status_code == 200 and "deciding needs the responder or admin role" in page.text
    assert 'value="approve"' not in page.text
    post = await http.post(
        "/console/runs/run-1/decide",
        data={"step": "approve", "decision": "approve"},
        headers=bearer("viewer"),
    )
    assert post.status_code == 403 and "needs the responder role; vera is viewer" in post.text
    assert source.decisions == []
    assert audit.refusals()[-1] | {"at": None} == audit.refusals()[-1] | {
        "at": None,
        "status": 403,
        "user": "vera",
        "role": "viewer",
    }


async def test_session_forms_need_their_csrf_token(
    http: httpx.AsyncClient, source: FakeRunSource, audit: AuditLog
) -> None:
    csrf = await sign_in(http, "responder")
    for bad in ({}, {"csrf_token": "x" * 43}):
        post = await http.post(
            "/console/runs/run-1/decide", data={"step": "approve", "decision": "approve", **bad}
        )
        assert post.status_code == 403 and "CSRF" in post.text
    assert source.decisions == []
    assert [e["reason"] for e in audit.refusals()][-2:] == [
        "missing or wrong CSRF token (reload the page and try again)"
    ] * 2
    ok = await http.post(
        "/console/runs/run-1/decide",
        data={"step": "approve", "decision": "approve", "reason": "clear evidence", "csrf_token": csrf},
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/console/runs/run-1?done=approve&step=approve"
    assert source.decisions == [
        {
            "run_id": "run-1",
            "step": "approve",
            "decision": Decision.APPROVE,
            "by": "user:U1",
            "reason": "clear evidence",
        }
    ]
    after = await http.get(ok.headers["location"])
    assert "You approved approve." in after.text and "clear evidence" in after.text
    decided = [e for e in audit.events if e["kind"] == "console.decision"]
    assert decided[0]["by"] == "user:U1" and decided[0]["groups"] == [] and decided[0]["outcome"] == "ok"
    assert {e["outcome"] for e in audit.refusals()} == {"refused"}


async def test_the_login_form_itself_is_protected_and_wrong_tokens_are_audited(
    http: httpx.AsyncClient, audit: AuditLog
) -> None:
    no_csrf = await http.post("/console/login", data={"token": token("admin")})
    assert no_csrf.status_code == 403 and "fireline_session" not in no_csrf.headers.get("set-cookie", "")
    form = await http.get("/console/login")
    csrf = CSRF.search(form.text)
    assert csrf is not None
    wrong = await http.post("/console/login", data={"csrf_token": csrf.group(1), "token": "tok-guess"})
    assert wrong.status_code == 401 and "That token is not valid." in wrong.text
    assert [e["status"] for e in audit.refusals()] == [403, 401]
    assert "tok-guess" not in str(audit.events)
    # After signing in, ``next`` may only point back into the console.
    form = await http.get("/console/login")
    csrf = CSRF.search(form.text)
    assert csrf is not None
    answer = await http.post(
        "/console/login",
        data={"csrf_token": csrf.group(1), "token": token("admin"), "next": "https://evil.test/"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/console/"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=28800" in cookie


async def test_sessions_expire_and_signing_out_ends_them(
    http: httpx.AsyncClient, clock: Clock, audit: AuditLog
) -> None:
    csrf = await sign_in(http, "viewer")
    clock.now += 8 * 3600 + 1
    expired = await http.get("/console/")
    assert expired.status_code == 303 and expired.headers["location"].startswith("/console/login")
    assert audit.refusals()[-1]["reason"] == "session expired; sign in again"
    csrf = await sign_in(http, "viewer")
    kept = dict(http.cookies)
    out = await http.post("/console/logout", data={"csrf_token": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert (await http.get("/console/api/runs")).status_code == 401
    http.cookies.clear()
    http.cookies.update(kept)
    replay = await http.get("/console/api/runs")
    assert replay.status_code == 401 and replay.json()["reason"] == "signed out; sign in again"


async def test_group_members_decide_and_outsiders_are_told_why_not(
    http: httpx.AsyncClient, source: FakeRunSource, audit: AuditLog
) -> None:
    outsider = await http.get("/console/runs/run-1", headers=bearer("outsider"))
    assert "only user:U1, group:ml-oncall may decide this step; you are user:mallory" in outsider.text
    refused = await http.post(
        "/console/runs/run-1/decide",
        data={"step": "approve", "decision": "approve"},
        headers=bearer("outsider"),
    )
    assert refused.status_code == 409 and "user:mallory is not an approver of approve" in refused.text
    no_reason = await http.post(
        "/console/runs/run-1/decide",
        data={"step": "approve", "decision": "reject"},
        headers=bearer("groupie"),
    )
    assert no_reason.status_code == 400 and "a rejection needs a reason" in no_reason.text
    rejected = await http.post(
        "/console/runs/run-1/decide",
        data={"step": "approve", "decision": "reject", "reason": "false positive"},
        headers=bearer("groupie"),
    )
    assert rejected.status_code == 303
    assert source.decisions[0]["by"] == "user:bob" and source.decisions[0]["decision"] is Decision.REJECT
    record = source.states["run-1"].step("approve")
    assert record is not None and record.status is StepStatus.REJECTED
    kinds = audit.kinds()
    assert kinds.count("console.decision_refused") == 2 and kinds.count("console.decision") == 1


async def test_alert_data_is_escaped_on_every_page(http: httpx.AsyncClient, source: FakeRunSource) -> None:
    joined = JoinedAlert(id="a-2", title="<svg onload=alert(2)>", received_at=datetime.now(UTC))
    source.states["run-1"].joined_alerts.append(joined)
    for path in ("/console/", "/console/rows", "/console/runs/run-1"):
        page = await http.get(path, headers=bearer("viewer"))
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, path
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text, path
    run = await http.get("/console/runs/run-1", headers=bearer("viewer"))
    assert "&lt;img src=x onerror=alert(1)&gt;" in run.text
    assert "&lt;svg onload=alert(2)&gt;" in run.text and "<svg onload" not in run.text
    assert "<details><summary>message=&lt;script&gt;" in run.text  # outputs are collapsed
    assert 'href="http://127.0.0.1:8233/namespaces/default/workflows/run-1"' in run.text
    assert "class run_1" not in run.text and "class approve st_waiting" in run.text


async def test_security_headers_on_pages_and_cacheable_static_files(http: httpx.AsyncClient) -> None:
    page = await http.get("/console/", headers=bearer("viewer"))
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "'unsafe-eval'" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["cache-control"] == "no-store" and page.headers["x-content-type-options"] == "nosniff"
    assert "onclick" not in page.text and "<script>" not in page.text
    mermaid = await http.get("/console/static/vendor/mermaid.min.js")
    assert mermaid.status_code == 200 and mermaid.headers["cache-control"].startswith("public")
    assert (await http.get("/console", follow_redirects=False)).headers["location"] == "/console/"


async def test_list_filters_pages_and_json(http: httpx.AsyncClient, source: FakeRunSource) -> None:
    for i in range(30):
        state = pending_state(f"bulk-{i:02}", title=f"bulk {i}")
        state.severity = "low" if i % 2 else "critical"
        source.add(state)
    listing = (
        await http.get("/console/api/runs", params={"severity": "low"}, headers=bearer("viewer"))
    ).json()
    assert listing["matched"] == 15 and {r["severity"] for r in listing["rows"]} == {"low"}
    assert listing["rows"][0]["waiting_on"] == ["user:U1", "group:ml-oncall"]
    paged = (
        await http.get("/console/api/runs", params={"per_page": 10, "page": 4}, headers=bearer("viewer"))
    ).json()
    assert paged["pages"] == 4 and len(paged["rows"]) == 1 and paged["matched"] == 31
    page = await http.get("/console/", params={"playbook": "nope"}, headers=bearer("viewer"))
    assert "No incidents match." in page.text
    state = await http.get("/console/api/runs/run-1", headers=bearer("viewer"))
    assert state.json()["alert_title"] == HOSTILE
    assert (await http.get("/console/api/runs/missing", headers=bearer("viewer"))).status_code == 404
    assert (await http.get("/console/runs/..%2F..%2Fetc", headers=bearer("viewer"))).status_code == 404


async def test_reviews_render_safely_and_download_as_markdown(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    reviews = tmp_path / "home" / "reviews"
    reviews.mkdir(parents=True)
    text = (
        "# Review of run-1\n\n<script>alert(1)</script>\n\n"
        "[click](javascript:alert(1)) and ![x](https://evil.test/t.png)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    (reviews / "run-1.md").write_text(text, encoding="utf-8")
    page = await http.get("/console/runs/run-1/review", headers=bearer("viewer"))
    assert page.status_code == 200 and "<h1>Review of run-1</h1>" in page.text
    assert (
        "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    )
    assert 'href="javascript:' not in page.text and "<table>" in page.text
    download = await http.get("/console/runs/run-1/review.md", headers=bearer("viewer"))
    assert download.text == text and download.headers["content-type"] == "text/markdown; charset=utf-8"
    assert download.headers["content-disposition"] == 'attachment; filename="run-1-review.md"'
    run = await http.get("/console/runs/run-1", headers=bearer("viewer"))
    assert 'href="/console/runs/run-1/review.md"' in run.text
    (tmp_path / "secret.md").write_text("secret")
    for trick in ("..%2Fsecret", "%2E%2E", "run-2"):
        assert (
            await http.get(f"/console/runs/{trick}/review.md", headers=bearer("viewer"))
        ).status_code == 404
