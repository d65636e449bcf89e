"""``fireline alerts send FILE --source S``: sign a JSON file and post it to the receiver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from engine.alerts.model import AlertSource
from engine.errors import ConfigError
from engine.ingest.auth import SIGNATURE_HEADER, sign
from engine.ingest.config import RECEIVER_SOURCES


class SendResult(BaseModel):
    """The receiver's answer."""

    status: int
    body: Any = None
    retry_after: str | None = None


def send_alert(
    url: str,
    source: AlertSource | str,
    body: bytes,
    *,
    secret: str | None = None,
    token: str | None = None,
    timeout_s: float = 30.0,
) -> SendResult:
    """POST ``body`` to ``<url>/alerts/<source>``, signed with ``secret`` (or with a bearer ``token``).

    Raises:
        ConfigError: unknown source, or neither a secret nor a token.
    """
    kind = AlertSource(source)
    if kind not in RECEIVER_SOURCES:
        raise ConfigError(f"source must be one of {', '.join(s.value for s in RECEIVER_SOURCES)}")
    headers = {"Content-Type": "application/json"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    elif token:
        headers["Authorization"] = f"Bearer {token}"
    else:
        raise ConfigError("set FIRELINE_WEBHOOK_SECRET (or a token) to send alerts")
    try:
        response = httpx.post(
            f"{url.rstrip('/')}/alerts/{kind.value}", content=body, headers=headers, timeout=timeout_s
        )
    except httpx.HTTPError as exc:
        raise ConfigError(f"cannot reach the receiver at {url}: {exc}") from None
    try:
        data: Any = response.json()
    except ValueError:
        data = response.text[:500]
    return SendResult(status=response.status_code, body=data, retry_after=response.headers.get("retry-after"))


def send_file(url: str, source: AlertSource | str, path: Path, **kwargs: Any) -> SendResult:
    """:func:`send_alert` with the bytes of ``path``."""
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return send_alert(url, source, body, **kwargs)
