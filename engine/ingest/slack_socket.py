"""Slack interactivity over Socket Mode: no public endpoint, an app-level token (``SLACK_APP_TOKEN``).

Slack pushes the same payloads as to ``POST /slack/interactions`` over a WebSocket that the
app opened with its app token, so there is no request signature to check: the connection is
the authentication. Each envelope is acknowledged at once (with the dispatcher's immediate
answer) and then processed on the event loop that owns the Temporal client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from slack_sdk import WebClient
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from engine.errors import ConfigError
from engine.ingest.slack_dispatch import SlackInteractionDispatcher

log = logging.getLogger("fireline.slack.socket")
APP_TOKEN = "SLACK_APP_TOKEN"
REMOTE = "socket-mode"


class SlackSocketMode:
    """Connects with the app token and feeds interactive envelopes to the dispatcher."""

    def __init__(
        self,
        dispatcher: SlackInteractionDispatcher,
        app_token: str,
        web_client: WebClient,
        *,
        client_factory: Callable[..., BaseSocketModeClient] = SocketModeClient,
    ) -> None:
        if not app_token.startswith("xapp-"):
            raise ConfigError(f"{APP_TOKEN} must be an app-level token (xapp-...)")
        self.dispatcher = dispatcher
        self._app_token = app_token
        self._web_client = web_client
        self._client_factory = client_factory
        self._client: BaseSocketModeClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[Future[None]] = set()

    def __repr__(self) -> str:
        return f"SlackSocketMode(connected={self._client is not None and self._client.is_connected()})"

    async def start(self) -> None:
        """Open the connection; envelopes are processed on the calling event loop from now on."""
        self._loop = asyncio.get_running_loop()
        client = self._client_factory(app_token=self._app_token, web_client=self._web_client, logger=log)
        client.socket_mode_request_listeners.append(self.on_request)
        await asyncio.to_thread(client.connect)
        self._client = client

    async def stop(self) -> None:
        """Close the connection and wait for envelopes already being processed."""
        if self._client is not None:
            _wake_reader(self._client)
            await asyncio.to_thread(self._client.close)
            self._client = None
        if self._pending:
            await asyncio.gather(
                *(asyncio.wrap_future(f) for f in list(self._pending)), return_exceptions=True
            )

    def on_request(self, client: BaseSocketModeClient, request: SocketModeRequest) -> None:
        """Listener (runs in the Socket Mode client's worker threads): ack, then process on the loop."""
        payload: dict[str, Any] = request.payload if isinstance(request.payload, dict) else {}
        answer = self.dispatcher.acknowledge(payload) if request.type == "interactive" else None
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id, payload=answer))
        if request.type != "interactive" or answer is not None or self._loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self.dispatcher.process(payload, remote=REMOTE), self._loop)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)


def _wake_reader(client: BaseSocketModeClient) -> None:
    """Shut the WebSocket down first, so the SDK's reader thread stops now, not at its 3 s receive timeout."""
    client.auto_reconnect_enabled = False  # type: ignore[attr-defined]
    sock = getattr(getattr(client, "current_session", None), "sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
