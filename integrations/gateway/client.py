"""A small client for the LiteLLM proxy's key management API, with errors as :class:`ActionError`.

Settings (``ctx.settings`` first, then the environment): ``LITELLM_URL`` (the proxy's base URL),
``LITELLM_TIMEOUT`` (seconds, default 30). Secret: ``LITELLM_MASTER_KEY``, sent as
``Authorization: Bearer``. Every change carries ``litellm-changed-by: fireline:<run id>`` so the
proxy's own audit log names the run that made it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

from engine.sdk import ActionContext, ActionError
from integrations.gateway.models import KeyState, key_id
from integrations.http.transport import HttpResponse, redacted, send, status_error

URL = "LITELLM_URL"
TIMEOUT = "LITELLM_TIMEOUT"
MASTER_KEY = "LITELLM_MASTER_KEY"
DEFAULT_TIMEOUT = 30.0
_MAX_BYTES = 256 * 1024


class GatewayNotConfigured(ActionError):
    """The LiteLLM connection is not configured (or configured wrongly)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type="NotConfigured", retryable=False)


class LiteLLM:
    """Key management calls against one proxy."""

    def __init__(
        self, base_url: str, master_key: str, *, timeout: float = DEFAULT_TIMEOUT, changed_by: str = ""
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._master_key = master_key
        self.timeout = timeout
        self.changed_by = changed_by

    def __repr__(self) -> str:
        return f"LiteLLM({self.base_url!r})"

    @property
    def master_key(self) -> str:
        """The admin key (an HMAC secret for derived keys; never logged)."""
        return self._master_key

    # -- reads ------------------------------------------------------------------------------------
    def info(self, key: str) -> KeyState | None:
        """The key's record, or ``None`` when the proxy does not know it."""
        answer = self._call("GET", "/key/info", params={"key": key}, missing_ok=True)
        if answer is None:
            return None
        info = answer.get("info") if isinstance(answer, dict) else None
        if not isinstance(info, dict):
            raise ActionError("LiteLLM /key/info: answer without `info`", type="BadResponse", retryable=False)
        return KeyState.model_validate(info)

    # -- changes ------------------------------------------------------------------------------------
    def block(self, key: str) -> Any:
        """``POST /key/block``."""
        return self._call("POST", "/key/block", body={"key": key})

    def unblock(self, key: str) -> Any:
        """``POST /key/unblock``."""
        return self._call("POST", "/key/unblock", body={"key": key})

    def update(self, key: str, **fields: Any) -> Any:
        """``POST /key/update`` with only ``fields`` changed."""
        return self._call("POST", "/key/update", body={"key": key, **fields})

    def regenerate(self, key: str, new_key: str) -> Any:
        """``POST /key/{token}/regenerate`` giving the new key's value."""
        path = f"/key/{quote(key_id(key), safe='')}/regenerate"
        return self._call("POST", path, body={"new_key": new_key}, label="/key/{token}/regenerate")

    def generate(self, **fields: Any) -> Any:
        """``POST /key/generate``."""
        return self._call("POST", "/key/generate", body=fields)

    def delete(self, keys: list[str]) -> Any:
        """``POST /key/delete``."""
        return self._call("POST", "/key/delete", body={"keys": keys})

    # -- plumbing ------------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        missing_ok: bool = False,
        label: str = "",
    ) -> Any:
        url = self.base_url + path
        headers = {"Authorization": f"Bearer {self._master_key}", "Accept": "application/json"}
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body).encode()
        if self.changed_by and method != "GET":
            headers["litellm-changed-by"] = self.changed_by
        response = send(
            method,
            url,
            headers=headers,
            content=content,
            params=params,
            timeout=self.timeout,
            max_bytes=_MAX_BYTES,
        )
        # The path, not the URL: ``/key/{token}/regenerate`` is shown with its placeholder.
        operation = f"LiteLLM {method} {label or path}"
        if response.status == 404 and missing_ok:
            return None
        if response.status >= 300:
            raise _error(operation, redacted(response, [self._master_key]))
        return response.json_body


def _error(operation: str, response: HttpResponse) -> ActionError:
    message = _proxy_message(response.json_body)
    if "enterprise" in message.lower():
        return ActionError(
            f"{operation}: the proxy refuses: {message[:200]} (use strategy: replace)",
            type="NotSupported",
            retryable=False,
        )
    if response.status == 404:
        return ActionError(f"{operation}: no such key", type="KeyNotFound", retryable=False)
    error = status_error(operation, response)
    if message:
        error = ActionError(
            f"{operation}: answered {response.status}: {message[:300]}",
            type=error.type,
            retryable=error.retryable,
        )
    return error


def _proxy_message(body: Any) -> str:
    """LiteLLM's error text: ``{"error": {"message": ...}}`` or ``{"detail": {"error": ...}}``."""
    if not isinstance(body, dict):
        return ""
    for outer in ("error", "detail"):
        value = body.get(outer)
        if isinstance(value, dict):
            value = value.get("message") or value.get("error")
        if isinstance(value, str):
            return value
    return ""


def client_from_context(ctx: ActionContext) -> LiteLLM:
    """The client one action attempt uses."""
    url = ctx.setting(URL)
    if url is None:
        raise GatewayNotConfigured(
            f"{URL} is not set; point it at the LiteLLM proxy (e.g. http://litellm:4000)"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
        raise GatewayNotConfigured(f"{URL} must look like https://host:4000 without credentials")
    timeout = ctx.setting_seconds(TIMEOUT, DEFAULT_TIMEOUT)
    return LiteLLM(url, ctx.secret(MASTER_KEY), timeout=timeout, changed_by=f"fireline:{ctx.run_id}")
