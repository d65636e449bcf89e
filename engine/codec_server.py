"""``fireline codec-server``: the Temporal Web UI's remote codec endpoint, behind a token.

The Web UI (and ``temporal`` CLI) POST ``{"payloads": [...]}`` to ``/decode`` (and ``/encode``)
with the namespace in ``X-Namespace``; only holders of the token may see decrypted payloads.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Sequence

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

log = logging.getLogger("fireline.codec")
MAX_BODY = 4 * 1024 * 1024


def codec_app(
    codec: PayloadCodec, token: str, *, allowed_origins: Sequence[str] = (), namespaces: Sequence[str] = ()
) -> Starlette:
    """The codec server: bearer-token protected, CORS for the Web UI's origin."""
    if len(token) < 16:
        raise ValueError("the codec server token must be at least 16 characters")

    def refused(request: Request, status: int, reason: str) -> Response:
        log.warning(
            "codec request refused: %s from %s", reason, request.client.host if request.client else "?"
        )
        return JSONResponse({"error": reason}, status_code=status)

    async def handle(request: Request, encode: bool) -> Response:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return refused(request, 401, "missing or wrong bearer token")
        namespace = request.headers.get("x-namespace", "")
        if namespaces and namespace not in namespaces:
            return refused(request, 403, f"namespace {namespace!r} is not served here")
        body = await request.body()
        if len(body) > MAX_BODY:
            return refused(request, 413, "body too large")
        try:
            payloads = json_format.Parse(body, Payloads())
        except (json_format.ParseError, UnicodeDecodeError) as exc:
            return refused(request, 400, f"not a Payloads JSON document: {str(exc)[:200]}")
        items: list[Payload] = list(payloads.payloads)
        try:
            result = await (codec.encode(items) if encode else codec.decode(items))
        except Exception as exc:  # a payload we cannot open must be a clear 400, not a crash
            return refused(request, 400, str(exc)[:300])
        answer = json_format.MessageToDict(Payloads(payloads=result))
        return Response(json.dumps(answer), media_type="application/json")

    async def decode(request: Request) -> Response:
        return await handle(request, encode=False)

    async def encode(request: Request) -> Response:
        return await handle(request, encode=True)

    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=list(allowed_origins),
            allow_methods=["POST"],
            allow_headers=["authorization", "content-type", "x-namespace"],
            allow_credentials=True,
        )
    ]
    routes = [Route("/decode", decode, methods=["POST"]), Route("/encode", encode, methods=["POST"])]
    return Starlette(routes=routes, middleware=middleware)
