"""``POST /slack/interactions``: Slack's signed interactivity requests, for a public endpoint.

Every request is checked on its raw body before anything is parsed: ``X-Slack-Signature`` must
be the HMAC-SHA256 of ``v0:{X-Slack-Request-Timestamp}:{body}`` under the signing secret
(constant-time compare), the timestamp within 5 minutes, and the pair never seen before.
Forged, stale and replayed requests get 401 with the reason and go to the audit trail (kind,
reason, remote address; never the secret). Accepted requests are answered at once and acted on
in a background task, inside Slack's 3-second budget.

Wiring (the receiver)::

    route = slack_interactions_route(
        functools.partial(engine.client.decide, temporal_client),
        lambda: make_client(bot_token, settings_api_url),
        audit.record,
        signing_secret,
    )
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.ingest.slack_dispatch import AuditFn, AuditKind, DecideFn, SlackInteractionDispatcher
from integrations.slack.signing import RequestVerifier, Verdict
from integrations.slack.usergroups import DEFAULT_TTL_S, GroupMembership

log = logging.getLogger("fireline.slack.interactions")
PATH = "/slack/interactions"
#: Interactivity payloads are a few kilobytes; anything far larger is not from Slack.
MAX_BODY_BYTES = 1_000_000

_REASONS: dict[Verdict, str] = {
    Verdict.MISSING: "missing Slack signature headers",
    Verdict.MALFORMED: "malformed Slack signature headers",
    Verdict.STALE: "request timestamp outside the 5-minute window",
    Verdict.FORGED: "signature does not match",
    Verdict.REPLAYED: "request already received (replay)",
}


def parse_payload(body: bytes) -> dict[str, Any] | None:
    """The JSON ``payload`` field of a form-encoded interactivity body, or None."""
    try:
        form = urllib.parse.parse_qs(body.decode("utf-8"), strict_parsing=False, max_num_fields=20)
        payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, KeyError, IndexError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


class SlackInteractionsEndpoint:
    """The ASGI endpoint: verify, acknowledge, then process in the background."""

    def __init__(self, dispatcher: SlackInteractionDispatcher, verifier: RequestVerifier) -> None:
        self.dispatcher = dispatcher
        self.verifier = verifier

    async def handle(self, request: Request) -> Response:
        remote = request.client.host if request.client else ""
        body = await _read_body(request)
        if body is None:
            await self._refused("body too large", remote)
            return JSONResponse({"ok": False, "error": "body too large"}, status_code=413)
        verdict = self.verifier.verify(
            body, request.headers.get("x-slack-request-timestamp"), request.headers.get("x-slack-signature")
        )
        if verdict is not Verdict.OK:
            reason = _REASONS[verdict]
            await self._refused(reason, remote, verdict=verdict)
            return JSONResponse({"ok": False, "error": reason}, status_code=401)
        payload = parse_payload(body)
        if payload is None:
            await self._refused("no readable payload", remote)
            return JSONResponse({"ok": False, "error": "no readable payload"}, status_code=400)
        answer = self.dispatcher.acknowledge(payload)
        if answer is not None:
            return JSONResponse(answer)
        task = BackgroundTask(self.dispatcher.process, payload, remote=remote)
        return Response(status_code=200, background=task)

    async def _refused(self, reason: str, remote: str, *, verdict: Verdict | None = None) -> None:
        log.warning("refused a Slack interactivity request from %s: %s", remote or "?", reason)
        event: dict[str, Any] = {
            "kind": AuditKind.REQUEST_REFUSED,
            "reason": reason,
            "remote_addr": remote,
            "path": PATH,
        }
        if verdict is not None:
            event["verdict"] = verdict.value
        await self.dispatcher.audit(event)


async def _read_body(request: Request) -> bytes | None:
    """The raw body, or None past :data:`MAX_BODY_BYTES` (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def slack_interactions_route(
    decide_fn: DecideFn,
    slack_client_factory: Callable[[], WebClient],
    audit_fn: AuditFn,
    signing_secret: str,
    clock: Callable[[], float] = time.time,
    *,
    group_ttl_s: float = DEFAULT_TTL_S,
    path: str = PATH,
) -> Route:
    """The Starlette route for ``POST /slack/interactions``.

    Args:
        decide_fn: :func:`engine.client.decide` with the Temporal client bound.
        slack_client_factory: Builds a Web API client (bot token, ``SLACK_API_URL``).
        audit_fn: Receives one dict per audit event (sync or async).
        signing_secret: The app's signing secret (``SLACK_SIGNING_SECRET``).
        clock: Seconds since the epoch; tests move it to make requests stale.
        group_ttl_s: How long resolved user-group memberships are trusted.
        path: Where to mount the route.
    """
    groups = GroupMembership(slack_client_factory, ttl_s=group_ttl_s)
    dispatcher = SlackInteractionDispatcher(decide_fn, slack_client_factory, audit_fn, groups=groups)
    endpoint = SlackInteractionsEndpoint(dispatcher, RequestVerifier(signing_secret, clock=clock))
    return Route(path, endpoint.handle, methods=["POST"], name="slack_interactions")
