"""Run the receiver on uvicorn, and everything ingestion needs for ``fireline up``.

The server binds its own socket (bind errors become a clear :class:`StackError`) and leaves
signal handling to the caller's ``stop`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator, Sequence

import uvicorn
from starlette.routing import BaseRoute
from starlette.types import ASGIApp
from temporalio.client import Client

from engine.errors import StackError
from engine.ingest.core import Ingest, build_ingest
from engine.ingest.handover_process import HandoverSpec
from engine.ingest.hunts import sync_hunt_schedules
from engine.ingest.poller_schedule import serve_poller
from engine.ingest.receiver import build_app
from engine.settings import Settings
from engine.spec.catalog import Catalog

logger = logging.getLogger("fireline.ingest")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the stack decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ReceiverServer:
    """A uvicorn server for an ASGI app on ``host:port`` (port 0 picks a free one)."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The base URL the server listens on."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> str:
        """Bind, start serving and return :attr:`url`.

        Raises:
            StackError: the address cannot be bound or the server did not start.
        """
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP explicitly: only then does Python set TCP_NODELAY (no ~40 ms Nagle delay per reply).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise StackError(
                f"receiver cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from None
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            limit_concurrency=2000,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=10,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                sock.close()
                raise StackError(f"receiver on {self.url} stopped while starting")
            await asyncio.sleep(0.01)
        return self.url

    async def stop(self) -> None:
        """Finish requests in flight and stop."""
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = None
        self._task = None


async def serve_receiver(
    settings: Settings,
    client: Client,
    catalog: Catalog,
    stop: asyncio.Event,
    *,
    elasticsearch_url: str | None,
    ingest: Ingest | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve ``settings.receiver.listen`` until ``stop`` is set; ``on_listening`` gets the URL."""
    ingest = ingest or build_ingest(settings, client, catalog, elasticsearch_url=elasticsearch_url)
    if not ingest.config.has_credentials:
        logger.warning(
            "receiver has no credentials: every alert request will get 401 (set FIRELINE_WEBHOOK_SECRET)"
        )
    server = ReceiverServer(
        build_app(ingest, extra_routes=extra_routes), settings.receiver.host, settings.receiver.port
    )
    if ingest.handover is not None:
        ingest.handover.start()  # alerts spooled before a crash are handed over first
    try:
        url = await server.start()
        if on_listening is not None:
            on_listening(url)
        try:
            await stop.wait()
        finally:
            await server.stop()
    finally:
        if ingest.handover is not None:
            await ingest.handover.stop()
        if ingest.spool is not None:
            await ingest.spool.close()


async def serve_ingest(
    settings: Settings,
    client: Client,
    catalog: Catalog,
    stop: asyncio.Event,
    *,
    elasticsearch_url: str | None,
    poll_every_s: float | None = 30.0,
    web_ui_url: str | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    on_listening: Callable[[str], None] | None = None,
    handover: HandoverSpec | None = None,
) -> None:
    """Everything ``fireline up`` needs: hunt schedules synced, the receiver, and the poller
    (when Elasticsearch is known and ``poll_every_s`` is set), sharing one alert log; ``handover``
    runs the spool's hand-over in a process of its own."""
    ingest = build_ingest(settings, client, catalog, elasticsearch_url=elasticsearch_url, handover=handover)
    report = await sync_hunt_schedules(
        client,
        catalog,
        task_queue=settings.temporal.task_queue,
        action_queues=dict(settings.temporal.action_queues),
    )
    for name, problem in report.errors.items():
        logger.warning("hunt schedule for %s not synced: %s", name, problem)
    services = [
        serve_receiver(
            settings,
            client,
            catalog,
            stop,
            elasticsearch_url=elasticsearch_url,
            ingest=ingest,
            extra_routes=extra_routes,
            on_listening=on_listening,
        )
    ]
    if elasticsearch_url and poll_every_s:
        services.append(
            serve_poller(
                settings,
                client,
                catalog,
                stop,
                elasticsearch_url=elasticsearch_url,
                every_s=poll_every_s,
                web_ui_url=web_ui_url,
                ingest=ingest,
            )
        )
    await asyncio.gather(*services)
