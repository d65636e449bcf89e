"""A fake Slack Web API server for tests, and signed interactivity requests.

``FakeSlack`` serves :class:`~integrations.slack.fake_api.FakeWorkspace` over HTTP on 127.0.0.1
(a thread, a free port) with Slack's wire format: ``POST /api/<method>`` with a bearer token and
a JSON or form body, answering ``{"ok": ...}``. It records every call and can be told to answer
429 with ``Retry-After`` or any error a number of times. ``apps.connections.open`` (with the app
token) hands out a Socket Mode WebSocket served by :mod:`integrations.slack.fake_socket`::

    with FakeSlack(token="xoxb-test") as slack:
        slack.workspace.add_channel("ai-incidents")
        client = make_client("xoxb-test", slack.api_url)
        slack.rate_limit("chat.postMessage", times=1, retry_after=1)
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from integrations.slack.blocks import APPROVE_ACTION, REASON_BLOCK, REASON_INPUT, REJECT_CALLBACK
from integrations.slack.edits import EDIT_BLOCK, EDIT_INPUT, EDIT_REASON_BLOCK
from integrations.slack.fake_api import Answer, FakeWorkspace, SlackFault
from integrations.slack.fake_socket import FakeSocketServer
from integrations.slack.signing import sign

#: Arguments Slack clients send as JSON text inside form fields.
_JSON_FIELDS = ("blocks", "attachments", "view", "files")


@dataclass(frozen=True)
class Call:
    """One request the fake received."""

    method: str
    args: dict[str, Any]
    status: int
    error: str | None = None
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Fault:
    status: int
    error: str
    retry_after: int | None = None


class FakeSlack:
    """The fake Web API server; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        token: str = "xoxb-fireline-test",
        *,
        app_token: str = "xapp-fireline-test",
        bot_user: str = "UBOT",
    ) -> None:
        self.token = token
        self.app_token = app_token
        self._socket: FakeSocketServer | None = None
        self.workspace = FakeWorkspace(bot_user=bot_user)
        self._calls: list[Call] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------------------
    def start(self) -> FakeSlack:
        """Listen on a free loopback port in a background thread."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.workspace.upload_base = self.base_url
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-slack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        if self._server is None:
            raise RuntimeError("the fake Slack server is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        """What ``SLACK_API_URL`` should be: ``http://127.0.0.1:<port>/api/``."""
        return f"{self.base_url}/api/"

    @property
    def socket_mode(self) -> FakeSocketServer:
        """The Socket Mode WebSocket server (started on first use; ``apps.connections.open`` points at it)."""
        with self._lock:
            if self._socket is None:
                self._socket = FakeSocketServer()
            return self._socket

    # -- scripting and assertions -------------------------------------------------------------------------
    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 and ``Retry-After``."""
        self._add_fault(method, times, _Fault(429, "ratelimited", retry_after))

    def fail(self, method: str, error: str = "internal_error", *, times: int = 1, status: int = 200) -> None:
        """Answer the next ``times`` calls of ``method`` with ``{"ok": false, "error": error}``."""
        self._add_fault(method, times, _Fault(status, error))

    def _add_fault(self, method: str, times: int, fault: _Fault) -> None:
        with self._lock:
            self._faults.setdefault(method, deque()).extend(fault for _ in range(times))

    def calls(self, method: str | None = None) -> list[Call]:
        """Every call received (of ``method``), oldest first."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def clear_calls(self) -> None:
        """Forget the recorded calls."""
        with self._lock:
            self._calls.clear()

    # -- serving ------------------------------------------------------------------------------------------
    def answer(
        self, method: str, args: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, str], Answer]:
        """Status, extra headers and JSON body for one Web API call."""
        with self._lock:
            status, headers, body = self._answer(method, args, token)
            self._calls.append(Call(method, args, status, None if body.get("ok") else str(body.get("error"))))
            return status, headers, body

    def _answer(
        self, method: str, args: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, str], Answer]:
        faults = self._faults.get(method)
        if faults:
            fault = faults.popleft()
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return fault.status, headers, {"ok": False, "error": fault.error}
        if not token:
            return 200, {}, {"ok": False, "error": "not_authed"}
        if method == "apps.connections.open":
            if token != self.app_token:
                return 200, {}, {"ok": False, "error": "invalid_auth"}
            return 200, {}, {"ok": True, "url": self.socket_mode.url}
        if token != self.token:
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        implementation = self.workspace.methods.get(method)
        if implementation is None:
            return 404, {}, {"ok": False, "error": "unknown_method", "req_method": method}
        try:
            return 200, {}, {"ok": True, **implementation(args)}
        except SlackFault as fault:
            return 200, {}, {"ok": False, "error": fault.code}

    def upload(self, file_id: str, data: bytes) -> bool:
        """Receive the bytes of a ``files.getUploadURLExternal`` upload."""
        with self._lock:
            self._calls.append(Call("upload", {"file_id": file_id, "bytes": len(data)}, 200))
            return self.workspace.receive_upload(file_id, data)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSlack
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests read the recorded calls instead

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        if path.startswith("/upload/v1/"):
            ok = self.fake.upload(path.rsplit("/", 1)[-1], raw)
            self._send(
                200 if ok else 404, {}, f"OK - {len(raw)}".encode() if ok else b"not found", "text/plain"
            )
            return
        if not path.startswith("/api/"):
            self._send(404, {}, b"not found", "text/plain")
            return
        args = _decode_args(raw, self.headers.get("Content-Type", ""), query)
        auth = self.headers.get("Authorization", "")
        token = (
            auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else args.pop("token", None)
        )
        status, headers, body = self.fake.answer(path.removeprefix("/api/"), args, token)
        self._send(status, headers, json.dumps(body).encode(), "application/json; charset=utf-8")

    do_GET = do_POST

    def _send(self, status: int, headers: dict[str, str], body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _decode_args(raw: bytes, content_type: str, query: str) -> dict[str, Any]:
    args: dict[str, Any] = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
    if "application/json" in content_type and raw:
        try:
            loaded = json.loads(raw)
        except ValueError:
            loaded = {}
        args.update(loaded if isinstance(loaded, dict) else {})
    elif raw:
        args.update({k: v[0] for k, v in urllib.parse.parse_qs(raw.decode(), keep_blank_values=True).items()})
    for name in _JSON_FIELDS:
        if isinstance(args.get(name), str):
            # Unreadable JSON stays text: the method then answers invalid_arguments / invalid_blocks.
            with contextlib.suppress(ValueError):
                args[name] = json.loads(args[name])
    return args


# -- interactivity payloads ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignedRequest:
    """A body and headers as Slack would POST them to the interactivity URL."""

    body: bytes
    headers: dict[str, str]


def signed_request(
    payload: dict[str, Any],
    signing_secret: str,
    *,
    timestamp: int | None = None,
    signature: str | None = None,
) -> SignedRequest:
    """Form-encode ``payload`` and sign it (or use ``signature`` as given, to forge one)."""
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return SignedRequest(
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature if signature is not None else sign(signing_secret, ts, body),
        },
    )


def block_action_payload(
    value: str,
    *,
    user: str,
    channel: str,
    message: dict[str, Any],
    action_id: str = APPROVE_ACTION,
    team: str = "T0FIRELINE",
) -> dict[str, Any]:
    """A ``block_actions`` payload: ``user`` clicked the button ``action_id`` on ``message``."""
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team},
        "api_app_id": "A0FIRELINE",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": f"{int(time.time())}.1234.{user.lower()}",
        "team": {"id": team, "domain": "fireline-test"},
        "channel": {"id": channel, "name": "ai-incidents"},
        "message": message,
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0FIRELINE/1/x",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "fireline_decision",
                "text": {"type": "plain_text", "text": "Approve"},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def view_submission_payload(
    view: dict[str, Any],
    reason: str,
    *,
    user: str,
    team: str = "T0FIRELINE",
    inputs: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A ``view_submission`` payload: ``user`` submitted the opened modal ``view`` with ``reason``.

    ``inputs`` fill an edit modal instead: argument name → the text typed (JSON).
    """
    values: dict[str, Any] = {REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input", "value": reason}}}
    if inputs is not None:
        values = {
            f"{EDIT_BLOCK}{name}": {EDIT_INPUT: {"type": "plain_text_input", "value": text}}
            for name, text in inputs.items()
        }
        values[EDIT_REASON_BLOCK] = {EDIT_INPUT: {"type": "plain_text_input", "value": reason}}
    submitted = {**view, "callback_id": view.get("callback_id", REJECT_CALLBACK), "state": {"values": values}}
    return {
        "type": "view_submission",
        "team": {"id": team, "domain": "fireline-test"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team},
        "api_app_id": "A0FIRELINE",
        "token": "legacy-verification-token",
        "trigger_id": f"{int(time.time())}.5678.{user.lower()}",
        "view": submitted,
        "response_urls": [],
    }
