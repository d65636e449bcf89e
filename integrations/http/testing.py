"""Real HTTP servers on loopback for tests, and a way to call an action as a step would.

:class:`LoopbackServer` runs a ``ThreadingHTTPServer`` on 127.0.0.1 at a free port in a thread,
records every request and can be told to answer the next requests with a fault (429 with
``Retry-After``, 500, ...). Subclasses answer requests by overriding :meth:`LoopbackServer.handle`;
:class:`EchoServer` answers with scripted replies or an echo of the request::

    with EchoServer() as server:
        server.reply("/hook", status=202, json={"ok": True})
        invoke(actions.post, ctx, url=server.url("/hook"), json={"a": 1})
        assert server.requests[0].json == {"a": 1}
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from engine.sdk import ActionContext


def invoke(func: Callable[..., Any], ctx: ActionContext, **args: Any) -> Any:
    """Validate ``args`` against the action's declared parameters and call it, as a step would."""
    definition = func.__fireline_action__  # type: ignore[attr-defined]
    params = definition.params_model.model_validate(args)
    if definition.params_as_model:
        return definition.func(ctx, params) if definition.takes_context else definition.func(params)
    kwargs = {name: getattr(params, name) for name in type(params).model_fields}
    return definition.func(ctx, **kwargs) if definition.takes_context else definition.func(**kwargs)


@dataclass(frozen=True)
class Recorded:
    """One request a server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON (``None`` when empty)."""
        return json.loads(self.body) if self.body else None

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        return self.headers.get(name.lower())


@dataclass
class Reply:
    """What a server answers."""

    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    def encoded(self) -> tuple[bytes, str]:
        """The body bytes and their content type."""
        if self.json is not None:
            return json.dumps(self.json).encode(), "application/json"
        return self.body, self.headers.get("Content-Type", "text/plain; charset=utf-8")


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1; use as a context manager."""

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.requests: list[Recorded] = []
        self._faults: list[tuple[str | None, Reply]] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -----------------------------------------------------------------------------------------
    def start(self) -> LoopbackServer:
        """Listen on a free loopback port in a background thread."""
        handler = type("Handler", (_Handler,), {"owner": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and wait for the thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (``https`` with TLS)."""
        assert self._server is not None, "server not started"
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str = "/") -> str:
        """An absolute URL on this server."""
        return self.base_url + path

    # -- behaviour ------------------------------------------------------------------------------------
    def fail(
        self,
        status: int = 500,
        *,
        times: int = 1,
        retry_after: int | None = None,
        json: Any = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests (to ``path`` only, when given) with ``status``.

        ``retry_after`` adds a ``Retry-After`` header.
        """
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = json if json is not None else {"error": f"injected {status}"}
        with self._lock:
            self._faults.extend(
                (path, Reply(status=status, json=body, headers=headers)) for _ in range(times)
            )

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        """Recorded requests, optionally filtered by method and path."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (path is None or r.path == path)
            ]

    def handle(self, request: Recorded) -> Reply:
        """Answer one request (subclasses override); 404 by default."""
        return Reply(status=404, json={"error": "not found"})

    def _dispatch(self, request: Recorded) -> Reply:
        with self._lock:
            self.requests.append(request)
            for i, (path, reply) in enumerate(self._faults):
                if path is None or path == request.path:
                    del self._faults[i]
                    return reply
        return self.handle(request)


class EchoServer(LoopbackServer):
    """Answers scripted replies per path, else 200 with an echo of the request."""

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(tls=tls)
        self._replies: dict[str, deque[Reply]] = {}

    def reply(
        self,
        path: str,
        *,
        status: int = 200,
        json: Any = None,
        body: bytes = b"",
        times: int = 1,
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests to ``path`` this way (the last one repeats)."""
        with self._lock:
            queue = self._replies.setdefault(path, deque())
            queue.extend(Reply(status, json, body, dict(headers or {}), delay_s) for _ in range(times))

    def handle(self, request: Recorded) -> Reply:
        with self._lock:
            queue = self._replies.get(request.path)
            if queue:
                return queue.popleft() if len(queue) > 1 else queue[0]
        return Reply(
            json={
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "body": request.body.decode(errors="replace"),
            }
        )


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that drop the connection (or refuse the certificate) are expected in tests."""


class _Handler(BaseHTTPRequestHandler):
    owner: LoopbackServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Recorded(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        reply = self.owner._dispatch(request)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        payload, content_type = reply.encoded()
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        for name, value in reply.headers.items():
            if name.lower() != "content-type":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve
