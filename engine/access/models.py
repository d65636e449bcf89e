"""Roles, the ``access`` settings section, the authenticated principal and refusals."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from engine.errors import FirelineError


class Role(StrEnum):
    """What a token may do: viewer reads, responder also decides, admin may do everything."""

    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        """True when this role includes ``needed``."""
        order = list(Role)
        return order.index(self) >= order.index(needed)


class TokenEntry(BaseModel):
    """Who a token belongs to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str = Field(pattern=r"^[A-Za-z0-9._@-]{1,128}$", description="User id, as in approver lists.")
    role: Role


class AccessSettings(BaseModel):
    """The ``access`` section of ``fireline.yaml``."""

    model_config = ConfigDict(extra="forbid")

    tokens_file: Path | None = Field(None, description="JSON/YAML file: token sha256 (hex) → {user, role}.")
    session_secret_file: Path | None = Field(
        None, description="Key that signs session cookies; unset: a random key per process."
    )
    session_max_age_s: int = Field(8 * 3600, ge=60, le=30 * 86400, description="Session lifetime.")
    secure_cookies: bool | None = Field(None, description="Secure cookies; null: when the request is https.")
    trust_forwarded_proto: bool = Field(False, description="Believe X-Forwarded-Proto (behind a TLS proxy).")


class AuthVia(StrEnum):
    """How a request proved who sent it."""

    SESSION = "session"
    BEARER = "bearer"


class Principal(BaseModel):
    """The authenticated caller."""

    model_config = ConfigDict(frozen=True)

    user: str
    role: Role
    via: AuthVia
    token_id: str
    csrf: str = ""

    @property
    def approver(self) -> str:
        """The id approver lists use (``user:<id>``)."""
        return f"user:{self.user}"


class AccessDenied(FirelineError):
    """A request was refused; ``status`` is the HTTP answer."""

    status = 403

    def __init__(self, reason: str, principal: Principal | None = None) -> None:
        self.reason = reason
        self.principal = principal
        super().__init__(reason)


class Unauthenticated(AccessDenied):
    """No valid credentials (401)."""

    status = 401


class Forbidden(AccessDenied):
    """Valid credentials, not allowed (403)."""

    status = 403
