"""Authenticate requests (bearer token or signed session), check roles and CSRF, audit refusals."""

from __future__ import annotations

import hmac
import inspect
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import HTTPConnection
from starlette.responses import Response

from engine.access.models import (
    AccessDenied,
    AccessSettings,
    AuthVia,
    Forbidden,
    Principal,
    Role,
    Unauthenticated,
)
from engine.access.tokens import TokenStore
from engine.errors import ConfigError

log = logging.getLogger("fireline.access")

#: Receives one JSON-ready event per login, logout and refusal (sync or async; failures are logged).
AuditFn = Callable[[dict[str, Any]], object]
SESSION_COOKIE = "fireline_session"
LOGIN_COOKIE = "fireline_login"
CSRF_FIELD = "csrf_token"
MAX_CREDENTIAL_CHARS = 4096
_MAX_REVOKED = 100_000


def _read_secret(path: Path | None) -> bytes:
    if path is None:
        return secrets.token_bytes(32)
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read session secret file {path}: {exc.strerror or exc}") from None
    if len(secret) < 32:
        raise ConfigError(f"session secret file {path} must hold at least 32 bytes")
    return secret


class Access:
    """Authenticates requests, runs sessions and CSRF checks, and audits refusals."""

    def __init__(
        self,
        settings: AccessSettings,
        audit_fn: AuditFn | None = None,
        *,
        store: TokenStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store or TokenStore(settings.tokens_file)
        self.clock = clock
        self._audit_fn = audit_fn
        secret = _read_secret(settings.session_secret_file)
        self._sessions = URLSafeSerializer(secret, salt="fireline.session")
        self._logins = URLSafeSerializer(secret, salt="fireline.login")
        self._revoked: dict[str, float] = {}

    # -- authentication --------------------------------------------------------------------------

    def authenticate(self, conn: HTTPConnection) -> Principal | None:
        """The caller, or None when it sent no credentials.

        Raises:
            Unauthenticated: credentials were sent but are wrong, revoked or expired.
        """
        header = conn.headers.get("authorization")
        if header is not None:
            return self._bearer(header)
        cookie = conn.cookies.get(self.cookie_name(conn, SESSION_COOKIE))
        return None if cookie is None else self._session(cookie)

    def require(self, conn: HTTPConnection, role: Role) -> Principal:
        """The caller if it holds ``role``.

        Raises:
            Unauthenticated: no valid credentials.
            Forbidden: the caller's role is too small.
        """
        principal = self.authenticate(conn)
        if principal is None:
            raise Unauthenticated("sign in first (session cookie or Authorization: Bearer token)")
        if not principal.role.allows(role):
            raise Forbidden(f"needs the {role} role; {principal.user} is {principal.role}", principal)
        return principal

    def check_csrf(self, principal: Principal, submitted: str | None) -> None:
        """Cookie sessions must echo their CSRF token; bearer requests carry no ambient credentials.

        Raises:
            Forbidden: the token is missing or wrong.
        """
        if principal.via is AuthVia.BEARER:
            return
        given = (submitted or "").encode("utf-8", "replace")[:256]
        if not principal.csrf or not hmac.compare_digest(principal.csrf.encode(), given):
            raise Forbidden("missing or wrong CSRF token (reload the page and try again)", principal)

    def _bearer(self, header: str) -> Principal:
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > MAX_CREDENTIAL_CHARS:
            raise Unauthenticated("Authorization must be 'Bearer <token>'")
        found = self.store.lookup(token)
        if found is None:
            raise Unauthenticated("bearer token is not valid")
        token_id, entry = found
        return Principal(user=entry.user, role=entry.role, via=AuthVia.BEARER, token_id=token_id)

    def _session(self, cookie: str) -> Principal:
        if len(cookie) > MAX_CREDENTIAL_CHARS:
            raise Unauthenticated("session cookie is not valid")
        try:
            data = self._sessions.loads(cookie)
            token_id, issued, csrf, nonce = str(data["t"]), float(data["i"]), str(data["c"]), str(data["n"])
        except (BadSignature, KeyError, TypeError, ValueError):
            raise Unauthenticated("session cookie is not valid") from None
        now = self.clock()
        if now >= issued + self.settings.session_max_age_s or issued > now + 60:
            raise Unauthenticated("session expired; sign in again")
        if nonce in self._revoked:
            raise Unauthenticated("signed out; sign in again")
        entry = self.store.by_id(token_id)
        if entry is None:
            raise Unauthenticated("the token of this session was revoked")
        return Principal(user=entry.user, role=entry.role, via=AuthVia.SESSION, token_id=token_id, csrf=csrf)

    # -- sessions ---------------------------------------------------------------------------------

    def start_session(self, token: str) -> tuple[str, Principal] | None:
        """A session cookie value for a valid ``token``, or None."""
        found = self.store.lookup(token) if 0 < len(token) <= MAX_CREDENTIAL_CHARS else None
        if found is None:
            return None
        token_id, entry = found
        csrf = secrets.token_urlsafe(32)
        payload = {"t": token_id, "i": self.clock(), "c": csrf, "n": secrets.token_urlsafe(12)}
        principal = Principal(
            user=entry.user, role=entry.role, via=AuthVia.SESSION, token_id=token_id, csrf=csrf
        )
        return self._sessions.dumps(payload), principal

    def set_session(self, conn: HTTPConnection, response: Response, value: str) -> None:
        """Put the session cookie on ``response``."""
        self._set_cookie(conn, response, SESSION_COOKIE, value, self.settings.session_max_age_s)

    def end_session(self, conn: HTTPConnection, response: Response) -> None:
        """Sign out: the session's nonce is refused from now on and its cookie is deleted."""
        cookie = conn.cookies.get(self.cookie_name(conn, SESSION_COOKIE))
        try:
            data = self._sessions.loads(cookie) if cookie else None
            if isinstance(data, dict):
                self._revoke(str(data["n"]), float(data["i"]) + self.settings.session_max_age_s)
        except (BadSignature, KeyError, TypeError, ValueError):
            pass
        self._delete_cookie(conn, response, SESSION_COOKIE)

    def login_challenge(self) -> tuple[str, str]:
        """CSRF for the login form itself: ``(form value, cookie value)``; the cookie signs the value."""
        value = secrets.token_urlsafe(24)
        return value, self._logins.dumps(value)

    def set_login_challenge(self, conn: HTTPConnection, response: Response, cookie: str) -> None:
        """Put the login form's signed challenge cookie on ``response`` (valid one hour)."""
        self._set_cookie(conn, response, LOGIN_COOKIE, cookie, 3600)

    def check_login_challenge(self, conn: HTTPConnection, submitted: str | None) -> bool:
        """True when the login form echoes the value signed into its cookie."""
        cookie = conn.cookies.get(self.cookie_name(conn, LOGIN_COOKIE))
        try:
            expected = str(self._logins.loads(cookie)) if cookie else ""
        except BadSignature:
            return False
        given = (submitted or "").encode("utf-8", "replace")[:256]
        return bool(expected) and hmac.compare_digest(expected.encode(), given)

    def clear_login_challenge(self, conn: HTTPConnection, response: Response) -> None:
        """Drop the login form's cookie."""
        self._delete_cookie(conn, response, LOGIN_COOKIE)

    def secure(self, conn: HTTPConnection) -> bool:
        """Whether cookies get the Secure flag on this request."""
        if self.settings.secure_cookies is not None:
            return self.settings.secure_cookies
        if self.settings.trust_forwarded_proto:
            forwarded = conn.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
            if forwarded:
                return forwarded == "https"
        return conn.url.scheme in ("https", "wss")

    def cookie_name(self, conn: HTTPConnection, base: str) -> str:
        """``__Host-`` prefixed over https, so no subdomain or plain-http page can plant the cookie."""
        return f"__Host-{base}" if self.secure(conn) else base

    def _set_cookie(self, conn: HTTPConnection, response: Response, base: str, value: str, age: int) -> None:
        response.set_cookie(
            self.cookie_name(conn, base),
            value,
            max_age=age,
            path="/",
            secure=self.secure(conn),
            httponly=True,
            samesite="strict",
        )

    def _delete_cookie(self, conn: HTTPConnection, response: Response, base: str) -> None:
        response.delete_cookie(
            self.cookie_name(conn, base), path="/", secure=self.secure(conn), httponly=True, samesite="strict"
        )

    def _revoke(self, nonce: str, until: float) -> None:
        now = self.clock()
        self._revoked = {n: t for n, t in self._revoked.items() if t > now}
        if len(self._revoked) >= _MAX_REVOKED:
            self._revoked.pop(next(iter(self._revoked)))
        self._revoked[nonce] = until

    # -- audit ------------------------------------------------------------------------------------

    async def refused(self, conn: HTTPConnection, exc: AccessDenied, **extra: Any) -> None:
        """Audit one refusal."""
        principal = exc.principal
        await self.audit(
            conn,
            {
                "kind": "access.refused",
                "outcome": "refused",
                "status": exc.status,
                "reason": exc.reason,
                "user": principal.user if principal else None,
                "role": principal.role.value if principal else None,
                **extra,
            },
        )

    async def audit(self, conn: HTTPConnection, event: dict[str, Any]) -> None:
        """Hand ``event`` (plus time, method, path, remote address) to the audit trail; never raises.

        Every event names its ``kind`` and its ``outcome`` (``refused``, ``ok`` or ``failed``).
        """
        full = {
            "at": datetime.fromtimestamp(self.clock(), UTC).isoformat(),
            "method": conn.scope.get("method", ""),
            "path": conn.url.path[:300],
            "remote_addr": conn.client.host if conn.client else "",
            **event,
        }
        if self._audit_fn is None:
            return
        try:
            result = self._audit_fn(full)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("audit of %s failed", full.get("kind"))
