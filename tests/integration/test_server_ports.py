"""A local server whose free port is taken before it binds starts again on another one.

``free_port`` closes its socket before the server binds the port; a server starting at the
same time (Temporal's dev server binds ports of its own choosing) can take it in between.
That race made ``fireline demo`` fail with "mlflow exited with 1" on a busy machine.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.errors import PortTaken, StackError
from engine.settings import ElasticsearchSettings, Settings, TemporalSettings
from engine.stack import local, processes
from engine.stack.local import LocalStack
from engine.stack.processes import ManagedProcess, free_port, http_ok, start_on_free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process holds (listening) for the whole test."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def picking(picks: list[int]) -> tuple[Callable[..., int], list[int]]:
    """A stand-in for ``free_port`` that hands out ``picks`` first, then really free ports."""
    handed: list[int] = []

    def pick(host: str = "127.0.0.1") -> int:
        handed.append(picks.pop(0) if picks else free_port(host))
        return handed[-1]

    return pick, handed


def http_server(home: Path, port: int) -> ManagedProcess:
    """Python's own HTTP server: says "Address already in use" when it cannot bind."""
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(home)]
    return ManagedProcess(
        name="http", argv=argv, log_path=home / "http.log", ready=lambda: http_ok(f"http://127.0.0.1:{port}/")
    )


def test_a_server_that_lost_its_port_starts_again_on_another(
    tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    pick, handed = picking([taken_port])
    monkeypatch.setattr(processes, "free_port", pick)
    server, port = start_on_free_port(lambda free: processes.noida_elasticsearch(tmp_path, port=free))
    try:
        assert handed[0] == taken_port and port == handed[1] != taken_port
        assert http_ok(f"http://127.0.0.1:{port}/")
        assert (tmp_path / "logs" / "elasticsearch.log").read_text().count("already in use") == 1
    finally:
        server.stop()


def test_a_port_that_stays_taken_is_given_up_after_three_tries(
    tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    pick, handed = picking([taken_port] * 5)
    monkeypatch.setattr(processes, "free_port", pick)
    with pytest.raises(
        PortTaken, match=r"http exited with \d+; see .*http\.log \(a port it needs is taken\)"
    ):
        start_on_free_port(lambda free: http_server(tmp_path, free), timeout=20)
    assert handed == [taken_port] * processes.PORT_ATTEMPTS


def test_a_server_that_fails_for_another_reason_is_not_started_again(tmp_path: Path) -> None:
    builds: list[int] = []

    def broken(port: int) -> ManagedProcess:
        builds.append(port)
        argv = [sys.executable, "-c", "import sys; print('config file unreadable'); sys.exit(2)"]
        return ManagedProcess(name="broken", argv=argv, log_path=tmp_path / "broken.log", ready=lambda: False)

    with pytest.raises(StackError, match="broken exited with 2") as failed:
        start_on_free_port(broken, timeout=20)
    assert not isinstance(failed.value, PortTaken)
    assert len(builds) == 1


def test_the_stack_comes_up_when_its_picked_port_is_taken_meanwhile(
    tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    pick, handed = picking([taken_port])
    # The race itself: the port is free when picked and taken before noida-db binds it.
    monkeypatch.setattr(local, "free_port", pick)
    settings = Settings(
        home=tmp_path / "home",
        temporal=TemporalSettings(address="127.0.0.1:1"),  # not started: only Elasticsearch is
        elasticsearch=ElasticsearchSettings(port=0),
    )
    with LocalStack(settings) as stack:
        assert handed[0] == taken_port
        assert stack.elasticsearch_url == f"http://127.0.0.1:{handed[1]}"
        assert http_ok(f"{stack.elasticsearch_url}/")
