"""Who may use the console and the management endpoints: hashed tokens with roles, sessions, CSRF.

Tokens live in a JSON or YAML file that maps the sha256 (hex) of each token to its user and role,
so no plaintext token sits in configuration::

    9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08: {user: alice, role: responder}

``Authorization: Bearer <token>`` works on every endpoint; the console's login page exchanges a
token for a signed session cookie (HttpOnly, SameSite=Strict, Secure behind https) that expires
``session_max_age_s`` after login, checked on the server from the signed login time. Sessions
carry a per-session CSRF token. Role and user are read from the token file on every request, so
removing a token ends its sessions at once. Refusals are handed to ``audit_fn``.
"""

from engine.access.gate import CSRF_FIELD, Access, AuditFn
from engine.access.guard import protect, refusal
from engine.access.models import (
    AccessDenied,
    AccessSettings,
    AuthVia,
    Forbidden,
    Principal,
    Role,
    TokenEntry,
    Unauthenticated,
)
from engine.access.tokens import TokenStore, groups_of, hash_token, new_token, parse_tokens

__all__ = [
    "CSRF_FIELD",
    "Access",
    "AccessDenied",
    "AccessSettings",
    "AuditFn",
    "AuthVia",
    "Forbidden",
    "Principal",
    "Role",
    "TokenEntry",
    "TokenStore",
    "Unauthenticated",
    "groups_of",
    "hash_token",
    "new_token",
    "parse_tokens",
    "protect",
    "refusal",
]
