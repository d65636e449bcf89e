"""A fake LiteLLM proxy key store for tests, speaking the documented key management wire format.

LiteLLM keeps virtual keys in a PostgreSQL database that cannot be installed here, so tests run
against this stand-in: real HTTP on 127.0.0.1, ``Authorization: Bearer <master key>`` checked on
every call, keys stored by their sha256 token, errors shaped as the proxy shapes them
(``{"error": {"message", "type", "param", "code"}}``). Implemented: ``GET /key/info``,
``POST /key/block``, ``/key/unblock``, ``/key/update``, ``/key/generate``, ``/key/delete``,
``/key/{key}/regenerate`` and ``/key/regenerate`` (refused like a proxy without an Enterprise
licence unless ``premium=True``). Every request is recorded; ``fail()`` injects 429/500 answers::

    with FakeLiteLLM("sk-master") as proxy:
        key = proxy.add_key(rpm_limit=100)
        ctx = action_context(settings={"LITELLM_URL": proxy.base_url},
                             secrets={"LITELLM_MASTER_KEY": "sk-master"})
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

from integrations.http.testing import LoopbackServer, Recorded, Reply

#: Fields a key record has (LiteLLM_VerificationToken), besides its token.
_FIELDS: dict[str, Any] = {
    "key_name": None,
    "key_alias": None,
    "spend": 0.0,
    "max_budget": None,
    "expires": None,
    "models": [],
    "aliases": {},
    "config": {},
    "user_id": None,
    "team_id": None,
    "permissions": {},
    "max_parallel_requests": None,
    "metadata": {},
    "blocked": None,
    "tpm_limit": None,
    "rpm_limit": None,
    "budget_duration": None,
}
#: Fields ``/key/update`` and ``/key/generate`` may set.
_SETTABLE = frozenset(_FIELDS) - {"key_name", "spend"}


def hash_token(key: str) -> str:
    """LiteLLM's token for a key: sha256 hex of ``sk-...`` keys; other values are tokens already."""
    return hashlib.sha256(key.encode()).hexdigest() if key.startswith("sk-") else key


def _error(status: int, message: str, kind: str, param: str = "None") -> Reply:
    return Reply(
        status=status, json={"error": {"message": message, "type": kind, "param": param, "code": str(status)}}
    )


class FakeLiteLLM(LoopbackServer):
    """The fake proxy; ``keys`` maps token → record."""

    def __init__(self, master_key: str = "sk-fireline-master", *, premium: bool = True) -> None:
        super().__init__()
        self.master_key = master_key
        self.premium = premium
        self.keys: dict[str, dict[str, Any]] = {}

    # -- set up and inspect -----------------------------------------------------------------------------
    def add_key(self, key: str | None = None, **fields: Any) -> str:
        """Store a key (a fresh ``sk-`` value unless given) with ``fields``; returns the key."""
        value = key or f"sk-{secrets.token_urlsafe(16)}"
        with self._lock:
            self._store(value, fields)
        return value

    def record(self, key: str) -> dict[str, Any] | None:
        """The stored record of ``key`` (by key or token)."""
        with self._lock:
            found = self.keys.get(hash_token(key))
            return dict(found) if found is not None else None

    def changes(self) -> list[Recorded]:
        """Recorded requests that change keys (every POST)."""
        return self.calls("POST")

    # -- the API ----------------------------------------------------------------------------------------
    def handle(self, request: Recorded) -> Reply:
        if request.header("authorization") != f"Bearer {self.master_key}":
            return _error(401, "Authentication Error, Invalid proxy server token passed.", "auth_error")
        body = request.json if request.method == "POST" else None
        if request.method == "POST" and not isinstance(body, dict):
            return _error(422, "request body must be a JSON object", "bad_request_error")
        path = request.path
        with self._lock:
            if request.method == "GET" and path == "/key/info":
                return self._info(request.query.get("key", [""])[0])
            if request.method != "POST":
                return Reply(status=405, json={"detail": "Method Not Allowed"})
            assert isinstance(body, dict)
            if path in ("/key/block", "/key/unblock"):
                return self._set_blocked(body, path == "/key/block")
            if path == "/key/update":
                return self._update(body)
            if path == "/key/generate":
                return self._generate(body)
            if path == "/key/delete":
                return self._delete(body)
            if path == "/key/regenerate" or (path.startswith("/key/") and path.endswith("/regenerate")):
                key = body.get("key") or path[len("/key/") : -len("/regenerate")]
                return self._regenerate(str(key), body)
        return Reply(status=404, json={"detail": "Not Found"})

    def _store(self, key: str, fields: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        record = {**_FIELDS, **fields, "key_name": f"sk-...{key[-4:]}", "created_at": now, "updated_at": now}
        self.keys[hash_token(key)] = record
        return record

    def _find(self, key: str) -> tuple[str, dict[str, Any]] | None:
        token = hash_token(key)
        record = self.keys.get(token)
        return (token, record) if record is not None else None

    def _info(self, key: str) -> Reply:
        found = self._find(key) if key else None
        if found is None:
            return _error(404, "Key not found in database", "not_found_error", "key")
        return Reply(json={"key": key, "info": dict(found[1])})

    def _set_blocked(self, body: dict[str, Any], blocked: bool) -> Reply:
        found = self._find(str(body.get("key", "")))
        if found is None:
            return _error(404, f"Key {body.get('key')} not found", "bad_request_error", "key")
        token, record = found
        record["blocked"] = blocked
        return Reply(json={"token": token, **record})

    def _update(self, body: dict[str, Any]) -> Reply:
        found = self._find(str(body.get("key", "")))
        if found is None:
            return _error(404, "Key not found", "not_found_error", "key")
        token, record = found
        changes = {k: v for k, v in body.items() if k in _SETTABLE and v is not None}
        alias = changes.get("key_alias")
        if alias is not None and any(r["key_alias"] == alias for t, r in self.keys.items() if t != token):
            return _error(400, f"Key with alias '{alias}' already exists.", "bad_request_error", "key_alias")
        record.update(changes)
        return Reply(json={"key": body["key"], **changes})

    def _generate(self, body: dict[str, Any]) -> Reply:
        key = str(body.get("key") or f"sk-{secrets.token_urlsafe(16)}")
        alias = body.get("key_alias")
        if hash_token(key) in self.keys:
            return _error(400, "Unique constraint failed on the fields: (`token`)", "bad_request_error")
        if alias is not None and any(r["key_alias"] == alias for r in self.keys.values()):
            return _error(400, f"Key with alias '{alias}' already exists.", "bad_request_error", "key_alias")
        record = self._store(key, {k: v for k, v in body.items() if k in _SETTABLE})
        return Reply(json={"key": key, "token_id": hash_token(key), **record})

    def _delete(self, body: dict[str, Any]) -> Reply:
        keys = body.get("keys")
        if not isinstance(keys, list) or not keys:
            return _error(400, "No keys passed in.", "bad_request_error", "keys")
        missing = [k for k in keys if hash_token(str(k)) not in self.keys]
        if missing:
            return _error(404, f"Key(s) not found: {len(missing)}", "not_found_error", "keys")
        for key in keys:
            del self.keys[hash_token(str(key))]
        return Reply(json={"deleted_keys": keys})

    def _regenerate(self, key: str, body: dict[str, Any]) -> Reply:
        if not self.premium:
            # The proxy raises a ValueError here, which reaches the client as a 500.
            return _error(
                500,
                "Internal Server Error, Regenerating Virtual Keys is an Enterprise feature, "
                "You must be a LiteLLM Enterprise user to use this feature.",
                "internal_server_error",
            )
        found = self._find(key)
        if found is None:
            return _error(404, f"Key {key} not found.", "not_found_error", "key")
        new_key = str(body.get("new_key") or f"sk-{secrets.token_urlsafe(16)}")
        if not new_key.startswith("sk-"):
            return _error(400, "New key must start with 'sk-'.", "bad_request_error", "new_key")
        token, record = found
        del self.keys[token]
        record = {**record, "key_name": f"sk-...{new_key[-4:]}"}
        self.keys[hash_token(new_key)] = record
        return Reply(json={"key": new_key, "token_id": hash_token(new_key), **record})
