"""Tokens with roles, signed expiring sessions, CSRF and audited refusals (engine.access)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from engine.access import (
    Access,
    AccessSettings,
    AuthVia,
    Forbidden,
    Role,
    TokenStore,
    Unauthenticated,
    groups_of,
    hash_token,
    new_token,
    parse_tokens,
)
from engine.errors import ConfigError


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def request(headers: dict[str, str] | None = None, cookies: dict[str, str] | None = None) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if cookies:
        raw.append((b"cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()))
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/console/",
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.9", 5555),
        "headers": raw,
        "query_string": b"",
    }
    return Request(scope)


def tokens_file(tmp_path: Path, **people: tuple[str, str]) -> Path:
    """``name=(user, role)``; the plaintext token of each is ``tok-<name>``."""
    data = {hash_token(f"tok-{name}"): {"user": user, "role": role} for name, (user, role) in people.items()}
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def events() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def access(tmp_path: Path, clock: Clock, events: list[dict[str, Any]]) -> Access:
    path = tokens_file(tmp_path, ann=("ann", "viewer"), U1=("U1", "responder"), ada=("ada", "admin"))
    return Access(AccessSettings(tokens_file=path, session_max_age_s=3600), events.append, clock=clock)


def session_cookie(access: Access, token: str) -> str:
    started = access.start_session(token)
    assert started is not None
    return started[0]


def test_roles_include_the_smaller_ones() -> None:
    assert Role.ADMIN.allows(Role.RESPONDER) and Role.ADMIN.allows(Role.VIEWER)
    assert Role.RESPONDER.allows(Role.VIEWER) and not Role.RESPONDER.allows(Role.ADMIN)
    assert not Role.VIEWER.allows(Role.RESPONDER)


def test_token_files_hold_hashes_only(tmp_path: Path) -> None:
    token, digest = new_token()
    assert token.startswith("flt_") and len(token) > 40 and digest == hash_token(token)
    with pytest.raises(ConfigError, match="sha256 hex digests of tokens, not plaintext"):
        parse_tokens({"my-secret-token": {"user": "a", "role": "viewer"}}, "t.yaml")
    with pytest.raises(ConfigError, match="role"):
        parse_tokens({digest: {"user": "a", "role": "root"}}, "t.yaml")
    with pytest.raises(ConfigError, match="user"):
        parse_tokens({digest: {"user": "a b<script>", "role": "viewer"}}, "t.yaml")
    yaml_file = tmp_path / "tokens.yaml"
    yaml_file.write_text(f"{digest}: {{user: alice, role: responder}}\n")
    found = TokenStore(yaml_file).lookup(token)
    assert found is not None and found[1].user == "alice" and found[1].role is Role.RESPONDER
    assert found[0] == digest[:16]
    assert TokenStore(yaml_file).lookup("nope") is None
    assert token not in yaml_file.read_text()


def test_a_broken_tokens_file_fails_at_start_and_refuses_everything_later(tmp_path: Path) -> None:
    path = tokens_file(tmp_path, a=("a", "viewer"))
    ticks = Clock(0.0)
    store = TokenStore(path, clock=ticks)
    assert store.lookup("tok-a") is not None
    path.write_text("{not: [valid")
    ticks.now += 2
    assert store.lookup("tok-a") is None
    path.write_text("[]")
    with pytest.raises(ConfigError, match="must map token sha256"):
        TokenStore(path)


def test_bearer_tokens_authenticate_and_bad_ones_are_refused(access: Access) -> None:
    principal = access.authenticate(request({"Authorization": "Bearer tok-U1"}))
    assert principal is not None and principal.user == "U1" and principal.role is Role.RESPONDER
    assert principal.via is AuthVia.BEARER and principal.approver == "user:U1"
    assert access.authenticate(request()) is None
    with pytest.raises(Unauthenticated, match="not valid"):
        access.authenticate(request({"Authorization": "Bearer tok-nobody"}))
    with pytest.raises(Unauthenticated, match="Bearer <token>"):
        access.authenticate(request({"Authorization": "Basic dTpw"}))


def test_require_says_401_without_credentials_and_403_for_a_small_role(access: Access) -> None:
    with pytest.raises(Unauthenticated):
        access.require(request(), Role.VIEWER)
    with pytest.raises(Forbidden, match="needs the responder role; ann is viewer") as refused:
        access.require(request({"Authorization": "Bearer tok-ann"}), Role.RESPONDER)
    assert refused.value.status == 403 and refused.value.principal is not None
    assert access.require(request({"Authorization": "Bearer tok-ada"}), Role.RESPONDER).user == "ada"


def test_sessions_expire_on_the_server_whatever_the_cookie_says(access: Access, clock: Clock) -> None:
    cookie = session_cookie(access, "tok-U1")
    principal = access.authenticate(request(cookies={"fireline_session": cookie}))
    assert principal is not None and principal.via is AuthVia.SESSION and len(principal.csrf) > 30
    clock.now += 3599
    assert access.authenticate(request(cookies={"fireline_session": cookie})) is not None
    clock.now += 2
    with pytest.raises(Unauthenticated, match="session expired"):
        access.authenticate(request(cookies={"fireline_session": cookie}))


def test_tampered_forged_and_future_sessions_are_refused(
    tmp_path: Path, access: Access, clock: Clock
) -> None:
    cookie = session_cookie(access, "tok-ann")
    with pytest.raises(Unauthenticated, match="not valid"):
        access.authenticate(request(cookies={"fireline_session": cookie[:-2] + "xx"}))
    other = Access(AccessSettings(tokens_file=access.settings.tokens_file), clock=clock)
    with pytest.raises(Unauthenticated, match="not valid"):  # another process's random key
        other.authenticate(request(cookies={"fireline_session": cookie}))
    clock.now -= 120
    with pytest.raises(Unauthenticated, match="expired"):
        access.authenticate(request(cookies={"fireline_session": cookie}))


def test_replicas_sharing_a_secret_file_accept_each_others_sessions(tmp_path: Path) -> None:
    secret = tmp_path / "session.key"
    secret.write_text("s" * 40)
    settings = AccessSettings(
        tokens_file=tokens_file(tmp_path, a=("a", "viewer")), session_secret_file=secret
    )
    cookie = session_cookie(Access(settings), "tok-a")
    assert Access(settings).authenticate(request(cookies={"fireline_session": cookie})) is not None
    secret.write_text("short")
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        Access(settings)


def test_removing_a_token_ends_its_sessions(tmp_path: Path, clock: Clock) -> None:
    path = tokens_file(tmp_path, a=("a", "viewer"), b=("b", "viewer"))
    store = TokenStore(path, clock=clock)
    access = Access(AccessSettings(tokens_file=path), store=store, clock=clock)
    cookie = session_cookie(access, "tok-a")
    path.write_text(json.dumps({hash_token("tok-b"): {"user": "b", "role": "viewer"}}))
    clock.now += 2
    with pytest.raises(Unauthenticated, match="revoked"):
        access.authenticate(request(cookies={"fireline_session": cookie}))


def test_signing_out_refuses_the_old_cookie(access: Access) -> None:
    cookie = session_cookie(access, "tok-U1")
    access.end_session(request(cookies={"fireline_session": cookie}), Response())
    with pytest.raises(Unauthenticated, match="signed out"):
        access.authenticate(request(cookies={"fireline_session": cookie}))


def test_csrf_is_checked_for_sessions_and_not_for_bearer_tokens(access: Access) -> None:
    cookie = session_cookie(access, "tok-U1")
    principal = access.authenticate(request(cookies={"fireline_session": cookie}))
    assert principal is not None
    access.check_csrf(principal, principal.csrf)
    for wrong in (None, "", principal.csrf[:-1], principal.csrf + "x", "é" * 50):
        with pytest.raises(Forbidden, match="CSRF"):
            access.check_csrf(principal, wrong)
    bearer = access.authenticate(request({"Authorization": "Bearer tok-U1"}))
    assert bearer is not None
    access.check_csrf(bearer, None)


def test_login_challenge_binds_the_form_to_its_cookie(access: Access) -> None:
    value, cookie = access.login_challenge()
    assert access.check_login_challenge(request(cookies={"fireline_login": cookie}), value)
    assert not access.check_login_challenge(request(cookies={"fireline_login": cookie}), value + "x")
    assert not access.check_login_challenge(request(), value)
    assert not access.check_login_challenge(request(cookies={"fireline_login": cookie + "x"}), value)


def test_cookies_are_httponly_strict_and_secure_behind_https(tmp_path: Path) -> None:
    settings = AccessSettings(
        tokens_file=tokens_file(tmp_path, a=("a", "viewer")), trust_forwarded_proto=True
    )
    access = Access(settings)
    response = Response()
    proxied = request({"X-Forwarded-Proto": "https"})
    access.set_session(proxied, response, "value")
    header = response.headers["set-cookie"].lower()
    assert header.startswith("__host-fireline_session=value")
    for flag in ("httponly", "samesite=strict", "secure", "path=/", "max-age=28800"):
        assert flag in header
    plain = Response()
    access.set_session(request(), plain, "value")
    assert "secure" not in plain.headers["set-cookie"].lower()
    assert Access(AccessSettings(secure_cookies=True)).secure(request())


def test_groups_come_from_approver_groups() -> None:
    groups = {"ml-oncall": ["bob", "U9"], "leads": ["user:bob"], "legal": ["carol"]}
    assert groups_of(groups, "bob") == ["leads", "ml-oncall"]
    assert groups_of(groups, "user:U9") == ["ml-oncall"]
    assert groups_of(groups, "mallory") == []


async def test_refusals_are_audited_and_a_failing_audit_never_breaks_a_request(
    access: Access, events: list[dict[str, Any]], tmp_path: Path
) -> None:
    await access.refused(request(), Unauthenticated("sign in first"))
    assert events[0]["kind"] == "access.refused" and events[0]["status"] == 401
    assert events[0]["remote_addr"] == "127.0.0.9" and events[0]["path"] == "/console/"
    assert "tok-" not in json.dumps(events)
    received: list[dict[str, Any]] = []

    async def async_audit(event: dict[str, Any]) -> None:
        received.append(event)

    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("audit store down")

    await Access(AccessSettings(), async_audit).refused(request(), Forbidden("no"))
    assert received[0]["status"] == 403
    await Access(AccessSettings(), broken).refused(request(), Forbidden("no"))
