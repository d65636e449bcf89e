"""The local stack's state file, ``$FIRELINE_HOME/stack.json``: what runs where, by which PID.

``fireline status`` and ``fireline down`` read it; the process that started the stack writes
it and removes it when it stops the stack. Each PID is stored with its start time so that a
PID the system has since reused for another program is never mistaken for ours.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.parse
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from engine.errors import StackError
from engine.stack.processes import pid_alive

STATE_FILE_NAME = "stack.json"


class Component(StrEnum):
    """A part of the local stack."""

    TEMPORAL = "temporal"
    ELASTICSEARCH = "elasticsearch"
    WORKER = "worker"
    RECEIVER = "receiver"


class StackPhase(StrEnum):
    """Whether a stack runs under a home folder."""

    NOT_RUNNING = "not_running"
    RUNNING = "running"
    STALE = "stale"  # a state file exists but some recorded process is gone


def is_alive(pid: int) -> bool:
    """True while ``pid`` runs (zombies count as gone)."""
    return pid_alive(pid)


def process_start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (from /proc); None when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    # Field 22 of /proc/PID/stat is the start time; fields[0] here is field 3.
    return int(fields[19]) if len(fields) > 19 else None


class ProcessRecord(BaseModel):
    """A process the stack started, identified by PID and start time."""

    pid: int
    start_ticks: int | None = None

    @classmethod
    def of(cls, pid: int) -> ProcessRecord:
        """Record a running process now."""
        return cls(pid=pid, start_ticks=process_start_ticks(pid))

    def alive(self) -> bool:
        """True while this very process runs (not another one that got the same PID)."""
        if not is_alive(self.pid):
            return False
        now = process_start_ticks(self.pid)
        return self.start_ticks is None or now is None or now == self.start_ticks


class StackState(BaseModel):
    """Contents of ``stack.json``."""

    home: Path
    temporal_address: str
    namespace: str
    task_queue: str = "fireline"
    web_ui_url: str | None = None
    elasticsearch_url: str | None = None
    receiver_url: str | None = None
    processes: dict[Component, ProcessRecord] = Field(default_factory=dict)
    owner: ProcessRecord | None = Field(None, description="The fireline process that started the stack.")
    started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    detached: bool = False

    @property
    def worker_pid(self) -> int | None:
        """PID of the worker, when one was recorded."""
        record = self.processes.get(Component.WORKER)
        return record.pid if record else None

    def pids(self) -> dict[Component, int]:
        """PID of every recorded process."""
        return {component: record.pid for component, record in self.processes.items()}

    def any_alive(self) -> bool:
        """True when some recorded process (or the owner) still runs."""
        owner_alive = self.owner is not None and self.owner.alive()
        return owner_alive or any(record.alive() for record in self.processes.values())

    def phase(self) -> StackPhase:
        """RUNNING when every recorded process runs, STALE otherwise."""
        if self.processes and all(record.alive() for record in self.processes.values()):
            return StackPhase.RUNNING
        if not self.processes and self.owner is not None and self.owner.alive():
            return StackPhase.RUNNING  # nothing embedded: an external cluster, used by a live owner
        return StackPhase.STALE


class ComponentStatus(BaseModel):
    """One part of the stack as ``fireline status`` shows it."""

    component: Component
    address: str | None = None
    pid: int | None = None
    managed: bool = Field(description="Started by fireline (False: an external service).")
    alive: bool | None = Field(None, description="Whether the PID runs; None for external services.")


class StackStatus(BaseModel):
    """What runs where under one home folder."""

    home: Path
    phase: StackPhase
    detached: bool = False
    started_at: datetime | None = None
    temporal_address: str | None = None
    namespace: str | None = None
    task_queue: str | None = None
    web_ui_url: str | None = None
    elasticsearch_url: str | None = None
    receiver_url: str | None = None
    components: list[ComponentStatus] = Field(default_factory=list)

    @property
    def running(self) -> bool:
        """True when the stack runs with every recorded process alive."""
        return self.phase is StackPhase.RUNNING


def state_path(home: Path) -> Path:
    """Where the state file of the stack under ``home`` lives."""
    return home / STATE_FILE_NAME


def load_state(home: Path) -> StackState | None:
    """The recorded state, or None when no stack was recorded under ``home``.

    Raises:
        StackError: the file exists but cannot be read (the message says how to recover).
    """
    path = state_path(home)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StackError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return StackState.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise StackError(
            f"{path} is damaged ({first}); stop any fireline servers by hand and delete it"
        ) from None


def save_state(state: StackState) -> Path:
    """Write ``stack.json`` atomically (readers never see half a file)."""
    path = state_path(state.home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(state.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def clear_state(home: Path) -> None:
    """Remove ``stack.json`` if present."""
    with contextlib.suppress(FileNotFoundError):
        state_path(home).unlink()


def load_state_quietly(home: Path) -> StackState | None:
    """The state, or None when it is missing or unreadable (status must not crash)."""
    try:
        return load_state(home)
    except StackError:
        return None


def read_status(home: Path) -> StackStatus:
    """What runs where under ``home`` and whether each recorded PID is alive."""
    state = load_state_quietly(home)
    if state is None:
        return StackStatus(home=home, phase=StackPhase.NOT_RUNNING)
    addresses = {
        Component.TEMPORAL: state.temporal_address,
        Component.ELASTICSEARCH: state.elasticsearch_url,
        Component.WORKER: None,
        Component.RECEIVER: state.receiver_url,
    }
    components = []
    for component, address in addresses.items():
        record = state.processes.get(component)
        if record is None and address is None:
            continue
        components.append(
            ComponentStatus(
                component=component,
                address=address,
                pid=record.pid if record else None,
                managed=record is not None,
                alive=record.alive() if record else None,
            )
        )
    return StackStatus(
        home=home,
        phase=state.phase(),
        detached=state.detached,
        started_at=state.started_at,
        temporal_address=state.temporal_address,
        namespace=state.namespace,
        task_queue=state.task_queue,
        web_ui_url=state.web_ui_url,
        elasticsearch_url=state.elasticsearch_url,
        receiver_url=state.receiver_url,
        components=components,
    )


def web_ui_address(configured: str | None, home: Path) -> str | None:
    """The Temporal Web UI: the configured address, else the local stack's (http(s) only)."""
    base = configured
    if not base:
        state = load_state_quietly(home)
        base = state.web_ui_url if state else None
    if not base or not base.startswith(("http://", "https://")):
        return None
    return base.rstrip("/")


def workflow_link(web_ui: str, namespace: str, run_id: str) -> str:
    """A run in the Temporal Web UI (child run ids carry ``/``: quoted)."""
    quoted_ns = urllib.parse.quote(namespace, safe="")
    return f"{web_ui.rstrip('/')}/namespaces/{quoted_ns}/workflows/{urllib.parse.quote(run_id, safe='')}"
