"""Typed parameters of ``http.request`` and ``webhook.post``."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from integrations.http.config import check_secret_name
from integrations.http.transport import DEFAULT_MAX_BYTES

MAX_RESPONSE_BYTES = 1024 * 1024
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
#: Headers the transport sets itself; a playbook setting them would corrupt the request.
_RESERVED = frozenset({"host", "content-length", "transfer-encoding", "connection"})


def _check_url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("the URL must start with https:// or http://")
    if any(c in value for c in "\r\n\t "):
        raise ValueError("the URL may not contain whitespace")
    return value


def _check_headers(value: dict[str, str]) -> dict[str, str]:
    for name, text in value.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name[:60]!r} is not a valid header name")
        if name.lower() in _RESERVED:
            raise ValueError(f"header {name!r} is set by the HTTP client")
        if "\r" in text or "\n" in text:
            raise ValueError(f"header {name!r}: a value may not contain line breaks")
    return value


def _check_secret_headers(value: dict[str, str]) -> dict[str, str]:
    _check_headers(dict.fromkeys(value, ""))
    for secret in value.values():
        check_secret_name(secret)
    return value


def _check_statuses(value: list[int] | None) -> list[int] | None:
    if value is not None and not all(100 <= s <= 599 for s in value):
        raise ValueError("statuses are between 100 and 599")
    return value


Url = Annotated[str, Field(min_length=8, max_length=8192), AfterValidator(_check_url)]
Headers = Annotated[dict[str, str], AfterValidator(_check_headers)]
SecretHeaders = Annotated[dict[str, str], AfterValidator(_check_secret_headers)]
Statuses = Annotated[list[int] | None, AfterValidator(_check_statuses)]
SecretName = Annotated[str, AfterValidator(check_secret_name)]


class Method(StrEnum):
    """HTTP methods a step may use."""

    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    HEAD = "HEAD"


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RequestParams(_Params):
    """Parameters of ``http.request``."""

    method: Method = Method.GET
    url: Url = Field(description="http(s) URL; keep credentials out of it (use headers_from_secret)")
    json_body: Any = Field(None, alias="json", description="A JSON body (sent as application/json)")
    body: str | None = Field(None, max_length=1_000_000, description="A raw text body")
    query: dict[str, str | int | float | bool] = Field(default_factory=dict, description="Query parameters")
    headers: Headers = Field(default_factory=dict, description="Plain headers (no secrets here)")
    headers_from_secret: SecretHeaders = Field(
        default_factory=dict,
        description="Header name → secret name (HTTP_* or WEBHOOK_*), filled inside the action",
    )
    expected_status: Statuses = Field(
        None, description="Statuses that count as success; any 2xx when omitted"
    )
    timeout: float = Field(30.0, gt=0, le=300, description="Seconds for connecting and for each read")
    max_response_bytes: int = Field(DEFAULT_MAX_BYTES, ge=0, le=MAX_RESPONSE_BYTES)
    follow_redirects: bool = False
    idempotency_header: str | None = Field(
        None,
        pattern=_HEADER_NAME.pattern,
        description="Send the step's idempotency key in this header (e.g. Idempotency-Key)",
    )

    @model_validator(mode="after")
    def _one_body(self) -> RequestParams:
        if self.json_body is not None and self.body is not None:
            raise ValueError("give `json` or `body`, not both")
        if self.method in (Method.GET, Method.HEAD) and (self.json_body is not None or self.body is not None):
            raise ValueError(f"a {self.method.value} request has no body")
        return self


class WebhookParams(_Params):
    """Parameters of ``webhook.post``."""

    url: Url
    json_body: Any = Field(alias="json", description="The JSON document to deliver")
    headers: Headers = Field(default_factory=dict)
    signing_secret: SecretName | None = Field(
        None, description="Secret name (HTTP_* or WEBHOOK_*) whose value signs the body with HMAC-SHA256"
    )
    signature_header: str = Field("X-Fireline-Signature", pattern=_HEADER_NAME.pattern)
    timestamp_header: str = Field("X-Fireline-Timestamp", pattern=_HEADER_NAME.pattern)
    idempotency_header: str = Field(
        "Idempotency-Key", pattern=_HEADER_NAME.pattern, description="Carries the step's idempotency key"
    )
    expected_status: Statuses = None
    timeout: float = Field(30.0, gt=0, le=300)
    max_response_bytes: int = Field(16 * 1024, ge=0, le=MAX_RESPONSE_BYTES)
