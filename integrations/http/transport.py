"""One HTTP exchange with a capped response body, and its failures as :class:`ActionError`.

Used by the HTTP actions and by integrations that speak plain JSON over HTTP (LiteLLM,
PagerDuty). The transport never retries: the engine retries the whole step with backoff.
Messages name the method, host and path, never the query string or headers (they may hold
credentials).
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, Field

from engine.sdk import ActionError

DEFAULT_MAX_BYTES = 64 * 1024
_SNIPPET = 300
#: Response headers never returned to the playbook: they carry session credentials.
_HIDDEN_HEADERS = frozenset({"set-cookie", "authorization", "proxy-authenticate", "www-authenticate"})

#: HTTP status → (error type, retryable) for statuses with a fixed meaning.
_BY_STATUS: dict[int, tuple[str, bool]] = {
    400: ("BadRequest", False),
    401: ("Unauthorized", False),
    403: ("Forbidden", False),
    404: ("NotFound", False),
    408: ("Timeout", True),
    409: ("Conflict", False),
    413: ("TooLarge", False),
    422: ("BadRequest", False),
    425: ("TooEarly", True),
    429: ("RateLimited", True),
}


class HttpResponse(BaseModel):
    """An answer, its body cut at the cap."""

    status: int
    headers: dict[str, str] = Field(default_factory=dict)
    body: str = ""
    json_body: Any = Field(None, description="The parsed body when it is complete JSON")
    truncated: bool = False
    elapsed_ms: float = 0.0

    def result(self) -> dict[str, Any]:
        """The JSON-ready result an action returns: ``json`` replaces ``body`` when parsed."""
        out: dict[str, Any] = {
            "status": self.status,
            "headers": self.headers,
            "truncated": self.truncated,
            "elapsed_ms": round(self.elapsed_ms, 1),
        }
        if self.json_body is not None:
            out["json"] = self.json_body
        else:
            out["body"] = self.body
        return out


def redacted(response: HttpResponse, values: Iterable[str]) -> HttpResponse:
    """``response`` with every secret value in ``values`` replaced, should the server echo one back."""
    body, headers = response.body, dict(response.headers)
    hits = [v for v in values if len(v) >= 4 and (v in body or any(v in h for h in headers.values()))]
    if not hits:
        return response
    for value in hits:
        body = body.replace(value, "[redacted]")
        headers = {k: h.replace(value, "[redacted]") for k, h in headers.items()}
    parsed = _parse_json(body, headers) if response.json_body is not None else None
    return response.model_copy(update={"body": body, "headers": headers, "json_body": parsed})


def describe(method: str, url: str) -> str:
    """``POST hooks.example.com/path``: what was called, without query string or credentials."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{method.upper()} {host}{port}{parts.path or '/'}"


def send(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    params: Mapping[str, Any] | None = None,
    timeout: float = 30.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    follow_redirects: bool = False,
    verify: str | bool = True,
) -> HttpResponse:
    """Send one request and read at most ``max_bytes`` of the answer.

    Raises:
        ActionError: the exchange failed (timeout, refused connection, TLS); never for a status.
    """
    operation = describe(method, url)
    verify_arg: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
    )
    started = time.perf_counter()
    try:
        with (
            httpx.Client(timeout=timeout, verify=verify_arg, follow_redirects=follow_redirects) as client,
            client.stream(
                method.upper(), url, headers=dict(headers or {}), content=content, params=params
            ) as resp,
        ):
            raw, truncated = _read_capped(resp.iter_bytes(), max_bytes)
            status = resp.status_code
            answer_headers = {
                k.lower(): v for k, v in resp.headers.items() if k.lower() not in _HIDDEN_HEADERS
            }
            encoding = resp.encoding or "utf-8"
    except httpx.TimeoutException as exc:
        raise ActionError(
            f"{operation}: timed out ({type(exc).__name__})", type="Timeout", retryable=True
        ) from None
    except httpx.TransportError as exc:
        raise _transport_error(operation, exc) from None
    except httpx.InvalidURL as exc:
        raise ActionError(
            f"{operation}: invalid URL: {exc}", type="InvalidArguments", retryable=False
        ) from None
    text = raw.decode(encoding, errors="replace")
    return HttpResponse(
        status=status,
        headers=answer_headers,
        body=text,
        json_body=_parse_json(text, answer_headers) if not truncated else None,
        truncated=truncated,
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


def _read_capped(chunks: Iterable[bytes], max_bytes: int) -> tuple[bytes, bool]:
    buffer = bytearray()
    for chunk in chunks:
        buffer.extend(chunk)
        if len(buffer) > max_bytes:
            # Stop reading: a huge or endless answer must not fill the worker's memory.
            return bytes(buffer[:max_bytes]), True
    return bytes(buffer), False


def _parse_json(text: str, headers: Mapping[str, str]) -> Any:
    kind = headers.get("content-type", "")
    if "json" not in kind or not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _transport_error(operation: str, exc: httpx.TransportError) -> ActionError:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return ActionError(f"{operation}: TLS failed: {_short(cause)}", type="TLSError", retryable=False)
        cause = cause.__cause__ or cause.__context__
    return ActionError(f"{operation}: cannot connect: {_short(exc)}", type="Unavailable", retryable=True)


def status_error(
    operation: str, response: HttpResponse, expected: Iterable[int] | None = None
) -> ActionError:
    """An :class:`ActionError` for an answer whose status was not expected.

    429, 408 and 5xx may pass with time (retryable); other statuses will not.
    """
    status = response.status
    if status >= 500:
        kind, retryable = "Unavailable", True
    else:
        kind, retryable = _BY_STATUS.get(
            status, ("ClientError" if status >= 400 else "UnexpectedStatus", False)
        )
    wanted = f" (expected {', '.join(str(s) for s in sorted(expected))})" if expected else ""
    snippet = " ".join(response.body[:_SNIPPET].split())
    detail = f": {snippet}" if snippet else ""
    return ActionError(f"{operation}: answered {status}{wanted}{detail}", type=kind, retryable=retryable)


def _short(value: object) -> str:
    return str(value)[:_SNIPPET]
