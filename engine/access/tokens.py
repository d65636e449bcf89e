"""Token hashes with roles, read from a JSON or YAML file that is re-read when it changes."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml
from pydantic import ValidationError

from engine.access.models import TokenEntry
from engine.errors import ConfigError

log = logging.getLogger("fireline.access")
_HASH_CHARS = 64
#: Sessions name their token by this many leading hex digits of its hash.
ID_CHARS = 16
_RELOAD_EVERY_S = 1.0


def hash_token(token: str) -> str:
    """The sha256 hex of ``token``, as the tokens file stores it."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh random token and its hash."""
    token = "flt_" + secrets.token_urlsafe(32)
    return token, hash_token(token)


def groups_of(approver_groups: Mapping[str, list[str]], user: str) -> list[str]:
    """The ``approver_groups`` that list ``user`` (bare or as ``user:<id>``)."""
    bare = user.removeprefix("user:")
    return sorted(g for g, members in approver_groups.items() if bare in members or f"user:{bare}" in members)


def parse_tokens(data: object, origin: str) -> dict[str, TokenEntry]:
    """Validate a token mapping read from ``origin``.

    Raises:
        ConfigError: naming the first wrong entry (never a token value).
    """
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin}: must map token sha256 hashes to {{user, role}}")
    out: dict[str, TokenEntry] = {}
    for key, value in data.items():
        digest = str(key).lower()
        if len(digest) != _HASH_CHARS or any(c not in "0123456789abcdef" for c in digest):
            raise ConfigError(f"{origin}: keys must be sha256 hex digests of tokens, not plaintext tokens")
        try:
            out[digest] = TokenEntry.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "entry"
            raise ConfigError(f"{origin}: entry {digest[:12]}…: {where}: {first['msg']}") from None
    return out


class TokenStore:
    """Token hashes from a file, re-read when it changes; an unreadable file refuses every token."""

    def __init__(
        self,
        path: Path | None = None,
        entries: Mapping[str, TokenEntry] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._checked = clock()
        self._entries: dict[str, TokenEntry] = dict(entries or {})
        if path is not None:
            self._entries = self._read(path)  # a broken file at start is a configuration error

    def lookup(self, token: str) -> tuple[str, TokenEntry] | None:
        """The token's id and entry, or None; compares against every hash in constant time each."""
        digest = hash_token(token).encode()
        found: tuple[str, TokenEntry] | None = None
        for known, entry in self._current().items():
            if hmac.compare_digest(known.encode(), digest):
                found = (known[:ID_CHARS], entry)
        return found

    def by_id(self, token_id: str) -> TokenEntry | None:
        """The entry whose hash starts with ``token_id`` (ids come from signed sessions only)."""
        for known, entry in self._current().items():
            if known[:ID_CHARS] == token_id:
                return entry
        return None

    def _current(self) -> dict[str, TokenEntry]:
        if self.path is None:
            return self._entries
        now = self._clock()
        with self._lock:
            if now - self._checked >= _RELOAD_EVERY_S:
                self._checked = now
                try:
                    self._entries = self._read(self.path)
                except ConfigError as exc:
                    log.error("refusing every token until the tokens file is fixed: %s", exc)
                    self._entries = {}
                    self._stamp = None
            return self._entries

    def _read(self, path: Path) -> dict[str, TokenEntry]:
        try:
            info = path.stat()
            stamp = (info.st_mtime_ns, info.st_size)
            if stamp == self._stamp:
                return self._entries
            data = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read tokens file {path}: {exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"tokens file {path} is not valid JSON or YAML: {exc}") from None
        entries = parse_tokens(data, str(path))
        self._stamp = stamp
        return entries
