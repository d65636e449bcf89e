"""The embedded local stack: the Temporal dev server and noida-db, started as the settings ask.

``LocalStack`` starts what is not configured as external (``temporal.address`` /
``elasticsearch.url``), waits until Temporal really answers, records everything in
``$FIRELINE_HOME/stack.json`` and, on exit, stops exactly the processes it started.
``stop_detached`` and ``status`` serve ``fireline down`` and ``fireline status``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from engine.errors import StackError
from engine.settings import Settings, TemporalConnectArgs
from engine.stack.processes import (
    ManagedProcess,
    free_port,
    noida_elasticsearch,
    port_open,
    retry_when_port_taken,
    stop_pids,
    temporal_answers,
    temporal_dev_server,
)
from engine.stack.state import (
    Component,
    ProcessRecord,
    StackPhase,
    StackState,
    StackStatus,
    clear_state,
    load_state,
    load_state_quietly,
    read_status,
    save_state,
)

LOOPBACK = "127.0.0.1"
#: Processes that use the servers stop first, so they do not fail against a vanished server.
_CLIENT_COMPONENTS = (Component.WORKER, Component.RECEIVER)
_SERVER_COMPONENTS = (Component.TEMPORAL, Component.ELASTICSEARCH)


class LocalStack:
    """Start the embedded servers the settings call for; stop exactly those on exit.

    Use as ``with LocalStack(settings) as stack:`` (or ``async with``), or call
    :meth:`start` and leave them running with ``detach=True`` for ``fireline down`` to stop.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        detach: bool = False,
        temporal_extra_args: Sequence[str] = (),
        ready_timeout: float = 60.0,
    ) -> None:
        self.settings = settings
        self.home = settings.home.resolve()
        self.detach = detach
        self._temporal_extra_args = tuple(temporal_extra_args)
        self._ready_timeout = ready_timeout
        self._managed: dict[Component, ManagedProcess] = {}
        self._state: StackState | None = None

    @property
    def state(self) -> StackState:
        """The recorded state of the running stack."""
        if self._state is None:
            raise StackError("the local stack is not started")
        return self._state

    @property
    def temporal_address(self) -> str:
        """host:port of the Temporal frontend (embedded or external)."""
        return self.state.temporal_address

    @property
    def namespace(self) -> str:
        """Temporal namespace."""
        return self.state.namespace

    @property
    def task_queue(self) -> str:
        """Task queue the worker polls."""
        return self.state.task_queue

    @property
    def web_ui_url(self) -> str | None:
        """Temporal Web UI address, when there is one."""
        return self.state.web_ui_url

    @property
    def elasticsearch_url(self) -> str | None:
        """Elasticsearch URL (embedded or external)."""
        return self.state.elasticsearch_url

    def start(self) -> LocalStack:
        """Start the servers, wait until they answer, and write ``stack.json``.

        Raises:
            StackError: a stack already runs under this home, a port is taken, or a
                server did not start (the message points to its log under ``home/logs``).
        """
        if self._state is not None:
            raise StackError("the local stack is already started")
        self.home.mkdir(parents=True, exist_ok=True)
        _refuse_running_stack(self.home)
        try:
            es_url = self._start_elasticsearch()
            temporal_address, web_ui_url = self._start_temporal()
            state = StackState(
                home=self.home,
                temporal_address=temporal_address,
                namespace=self.settings.temporal.namespace,
                task_queue=self.settings.temporal.task_queue,
                web_ui_url=web_ui_url,
                elasticsearch_url=es_url,
                processes={c: ProcessRecord.of(m.pid) for c, m in self._managed.items()},
                owner=ProcessRecord.of(os.getpid()),
                detached=self.detach,
            )
            save_state(state)
        except BaseException:
            self._stop_servers()
            raise
        self._state = state
        return self

    def record(
        self,
        *,
        worker_pid: int | None = None,
        receiver_pid: int | None = None,
        receiver_url: str | None = None,
    ) -> None:
        """Add the worker / receiver to ``stack.json`` so status and ``fireline down`` see them.

        A PID other than this process's is stopped with the stack.
        """
        state = self.state
        if worker_pid is not None:
            state.processes[Component.WORKER] = ProcessRecord.of(worker_pid)
        if receiver_pid is not None:
            state.processes[Component.RECEIVER] = ProcessRecord.of(receiver_pid)
        if receiver_url is not None:
            state.receiver_url = receiver_url
        save_state(state)

    def connect_args(self) -> TemporalConnectArgs:
        """Arguments for ``temporalio.client.Client.connect`` to this stack's Temporal."""
        return self.settings.temporal_connect_kwargs(address=self.temporal_address)

    def stop(self) -> None:
        """Stop the recorded worker/receiver (other processes), then the servers; remove ``stack.json``."""
        state = self._state
        if state is not None:
            others = [
                record.pid
                for component in _CLIENT_COMPONENTS
                if (record := state.processes.get(component)) and record.pid != os.getpid() and record.alive()
            ]
            stop_pids(others)
        self._stop_servers()
        if state is not None:
            on_disk = load_state_quietly(self.home)
            # Remove the file only if it is still ours (`fireline down` may have run meanwhile).
            if on_disk is not None and (on_disk.started_at, on_disk.owner) == (state.started_at, state.owner):
                clear_state(self.home)
        self._state = None

    def _stop_servers(self) -> None:
        # SIGTERM all first so their shutdowns overlap (the dev server takes ~1 s).
        stop_pids([m.pid for m in self._managed.values() if m.proc is not None])
        for managed in self._managed.values():
            managed.stop()  # reaps the child
        self._managed.clear()

    def _start_elasticsearch(self) -> str | None:
        es = self.settings.elasticsearch
        if es.url is not None:
            return es.url
        return retry_when_port_taken(self._start_noida)

    def _start_noida(self) -> str:
        port = _pick_port(self.settings.elasticsearch.port, "elasticsearch.port")
        managed = noida_elasticsearch(self.home, port=port)
        self._managed[Component.ELASTICSEARCH] = managed
        managed.start(self._ready_timeout, detach=True)
        return f"http://{LOOPBACK}:{port}"

    def _start_temporal(self) -> tuple[str, str | None]:
        t = self.settings.temporal
        if t.address is not None:
            return t.address, t.web_ui_url
        return retry_when_port_taken(self._start_dev_server)

    def _start_dev_server(self) -> tuple[str, str | None]:
        t = self.settings.temporal
        grpc = _pick_port(t.ports.grpc, "temporal.ports.grpc")
        ui = _pick_port(t.ports.ui, "temporal.ports.ui") if t.ui else free_port()
        http = _pick_port(t.ports.http, "temporal.ports.http")
        address = f"{LOOPBACK}:{grpc}"
        managed = temporal_dev_server(
            self.home,
            port=grpc,
            ui_port=ui,
            http_port=http,
            namespace=t.namespace,
            extra_args=self._temporal_extra_args,
            headless=not t.ui,
        )

        def ready() -> bool:
            ports_up = port_open(LOOPBACK, grpc) and (not t.ui or port_open(LOOPBACK, ui))
            return ports_up and temporal_answers(address, t.namespace)

        managed.ready = ready
        self._managed[Component.TEMPORAL] = managed
        # Own session: Ctrl-C reaches only fireline, which stops the worker before the servers.
        managed.start(self._ready_timeout, detach=True)
        return address, f"http://{LOOPBACK}:{ui}" if t.ui else None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> LocalStack:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)


def stop_detached(home: Path) -> list[str]:
    """Stop the stack recorded under ``home`` (``fireline down``); one message per process.

    Stops the worker and receiver, then the process that started the stack, then the
    servers; PIDs already gone (a stale file) are reported, not fatal. Returns [] when no
    stack was recorded.
    """
    state = load_state(home)
    if state is None:
        return []
    messages: list[str] = []
    clients = [(c.value, r) for c in _CLIENT_COMPONENTS if (r := state.processes.get(c))]
    # The owner is often the worker itself (an in-process worker); name it once.
    separate = state.owner is not None and state.owner.pid not in {os.getpid(), *(r.pid for _, r in clients)}
    owner = [("fireline", state.owner)] if state.owner is not None and separate else []
    servers = [(c.value, r) for c in _SERVER_COMPONENTS if (r := state.processes.get(c))]
    was_alive = {id(r): r.alive() for _, r in [*owner, *clients, *servers]}
    for group in ([*clients, *owner], servers):
        stop_pids([r.pid for _, r in group if was_alive[id(r)] and r.pid != os.getpid()])
        for name, record in group:
            if was_alive[id(record)]:
                messages.append(f"stopped {name} (pid {record.pid})")
            elif name != "fireline":
                messages.append(f"{name} (pid {record.pid}) was not running")
    clear_state(home)
    return messages


def status(home: Path) -> StackStatus:
    """What runs where under ``home`` and whether each recorded PID is alive (``fireline status``)."""
    return read_status(home)


def wait_for_stack(home: Path, timeout: float = 60.0, *, require_worker: bool = False) -> StackState:
    """Wait until a stack started in the background under ``home`` runs (``fireline up --detach``).

    Raises:
        StackError: it did not come up within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = load_state_quietly(home)
        running = state is not None and state.phase() is StackPhase.RUNNING
        if state is not None and running and (not require_worker or state.worker_pid is not None):
            return state
        time.sleep(0.1)
    raise StackError(f"no stack came up under {home} within {timeout:.0f}s; see {home / 'logs'}")


def connect_args(settings: Settings) -> TemporalConnectArgs:
    """Where clients reach Temporal: the configured cluster, or the stack running under ``home``.

    Raises:
        StackError: Temporal is embedded but no stack runs under ``settings.home``.
    """
    if settings.temporal.address is not None:
        return settings.temporal_connect_kwargs()
    state = load_state_quietly(settings.home)
    temporal = state.processes.get(Component.TEMPORAL) if state else None
    if state is None or temporal is None or not temporal.alive():
        raise StackError(
            f"no local stack runs under {settings.home.resolve()}: start one with `fireline up`, "
            "or set temporal.address (TEMPORAL_ADDRESS) to use an existing cluster"
        )
    return settings.temporal_connect_kwargs(address=state.temporal_address)


def _pick_port(port: int | None, setting: str) -> int:
    """The configured port, or a free one for 0/None; a taken port is a clear error."""
    if not port:
        return free_port()
    if port_open(LOOPBACK, port):
        env = "FIRELINE_" + setting.upper().replace(".", "__")
        raise StackError(
            f"port {port} ({setting}) is already in use, maybe by another stack; "
            f"choose another port or 0 for a free one (e.g. {env}=0)"
        )
    return port


def _refuse_running_stack(home: Path) -> None:
    """Clear a stale ``stack.json``; refuse to start over a stack that still runs."""
    state = load_state(home)
    if state is None:
        return
    if state.any_alive():
        pids = ", ".join(f"{c.value} {p}" for c, p in state.pids().items())
        raise StackError(
            f"a fireline stack already runs under {home} (Temporal at {state.temporal_address}; {pids}); "
            "stop it with `fireline down` or use another FIRELINE_HOME"
        )
    clear_state(home)
