"""``http.request``: call any HTTP API; ``webhook.post``: deliver a signed JSON document.

A status outside ``expected_status`` (any 2xx by default) fails the step: 429, 408 and 5xx may
pass with time and are retried, other statuses fail at once. The answer's body is cut at
``max_response_bytes`` so a large or endless answer cannot fill the workflow history.
"""

from __future__ import annotations

import json
import time
from typing import Any

from engine.sdk import ActionContext, action
from integrations.http.config import ca_file, check_host_allowed, named_secret
from integrations.http.models import RequestParams, WebhookParams
from integrations.http.signing import sign
from integrations.http.transport import HttpResponse, describe, redacted, send, status_error

USER_AGENT = "fireline/1 (+https://github.com/fireline)"


def _check_status(operation: str, response: HttpResponse, expected: list[int] | None) -> None:
    ok = response.status in expected if expected else 200 <= response.status < 300
    if not ok:
        raise status_error(operation, response, expected)


def encode_json(value: Any) -> bytes:
    """The exact bytes sent (and signed) for a JSON body."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


@action("http.request")
def request(ctx: ActionContext, params: RequestParams) -> dict[str, Any]:
    """Send one HTTP request; returns {status, headers, json | body, truncated, elapsed_ms}.

    Secrets go in headers through ``headers_from_secret`` (header → secret name), read inside the
    action and never shown. Not idempotent in general: set ``idempotency_header`` when the API
    accepts an idempotency key, and the step's key is sent with every attempt.
    """
    check_host_allowed(ctx, params.url)
    headers = {"User-Agent": USER_AGENT, **params.headers}
    content: bytes | None = None
    if params.json_body is not None:
        content = encode_json(params.json_body)
        headers.setdefault("Content-Type", "application/json")
    elif params.body is not None:
        content = params.body.encode()
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
    if params.idempotency_header:
        headers[params.idempotency_header] = ctx.idempotency_key
    secret_values = []
    for header, secret in params.headers_from_secret.items():
        headers[header] = named_secret(ctx, secret)
        secret_values.append(headers[header])
    response = send(
        params.method.value,
        params.url,
        headers=headers,
        content=content,
        params=params.query or None,
        timeout=params.timeout,
        max_bytes=params.max_response_bytes,
        follow_redirects=params.follow_redirects,
        verify=ca_file(ctx) or True,
    )
    response = redacted(response, secret_values)
    _check_status(describe(params.method.value, params.url), response, params.expected_status)
    return response.result()


@action("webhook.post", idempotent=True)
def post(ctx: ActionContext, params: WebhookParams) -> dict[str, Any]:
    """POST a JSON document to a webhook; returns {status, delivery_id, signed, json | body, ...}.

    Every attempt carries the step's idempotency key (``Idempotency-Key`` by default), so a
    receiver that remembers keys sees a retried delivery as the same one. With ``signing_secret``
    the body is signed: ``X-Fireline-Signature: sha256=<hex HMAC-SHA256(secret, "<ts>.<body>")>``
    with the Unix time in ``X-Fireline-Timestamp`` (see :mod:`integrations.http.signing`).
    """
    check_host_allowed(ctx, params.url)
    body = encode_json(params.json_body)
    headers = {"User-Agent": USER_AGENT, **params.headers, "Content-Type": "application/json"}
    headers[params.idempotency_header] = ctx.idempotency_key
    if params.signing_secret is not None:
        timestamp = int(time.time())
        headers[params.timestamp_header] = str(timestamp)
        headers[params.signature_header] = sign(named_secret(ctx, params.signing_secret), timestamp, body)
    response = send(
        "POST",
        params.url,
        headers=headers,
        content=body,
        timeout=params.timeout,
        max_bytes=params.max_response_bytes,
        verify=ca_file(ctx) or True,
    )
    _check_status(describe("POST", params.url), response, params.expected_status)
    return {
        **response.result(),
        "delivery_id": ctx.idempotency_key,
        "signed": params.signing_secret is not None,
    }
