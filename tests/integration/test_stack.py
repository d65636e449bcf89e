"""The embedded local stack against the real Temporal dev server and noida-db."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from engine.client import connect
from engine.errors import StackError
from engine.settings import ElasticsearchSettings, Settings, TemporalPorts, TemporalSettings
from engine.stack.local import (
    LocalStack,
    connect_args,
    status,
    stop_detached,
    wait_for_stack,
)
from engine.stack.processes import port_open
from engine.stack.state import (
    Component,
    ProcessRecord,
    StackPhase,
    StackState,
    is_alive,
    load_state,
    save_state,
    state_path,
)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def free_port_settings(home: Path, namespace: str = "default") -> Settings:
    """Settings for an embedded stack in ``home`` on ports picked at start."""
    return Settings(
        home=home,
        temporal=TemporalSettings(namespace=namespace, ports=TemporalPorts(grpc=0, ui=0, http=0)),
        elasticsearch=ElasticsearchSettings(port=0),
    )


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        data: dict[str, object] = json.loads(resp.read())
        return data


def dead_pid() -> int:
    """The PID of a process that has exited."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(free_port_settings(tmp_path_factory.mktemp("home-a"))) as running:
        yield running


async def test_temporal_accepts_requests(stack: LocalStack) -> None:
    client = await connect(stack.connect_args())
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=stack.namespace)
    )
    assert described.namespace_info.name == "default"
    assert [wf async for wf in client.list_workflows()] == []


def test_elasticsearch_and_web_ui_answer(stack: LocalStack) -> None:
    assert stack.elasticsearch_url is not None and stack.web_ui_url is not None
    info = get_json(stack.elasticsearch_url + "/")
    assert isinstance(info.get("version"), dict)
    with urllib.request.urlopen(stack.web_ui_url, timeout=5) as resp:
        assert resp.status == 200


def test_status_reports_what_runs_where(stack: LocalStack) -> None:
    report = status(stack.home)
    assert report.phase is StackPhase.RUNNING and report.running
    assert report.temporal_address == stack.temporal_address and report.namespace == "default"
    assert report.web_ui_url == stack.web_ui_url and report.elasticsearch_url == stack.elasticsearch_url
    by_name = {c.component: c for c in report.components}
    assert set(by_name) == {Component.TEMPORAL, Component.ELASTICSEARCH}
    assert all(c.managed and c.alive and c.pid for c in by_name.values())
    assert json.loads(report.model_dump_json())["phase"] == "running"  # what `status --json` prints


def test_clients_find_the_running_stack_from_settings(stack: LocalStack, tmp_path: Path) -> None:
    assert connect_args(stack.settings).target_host == stack.temporal_address
    with pytest.raises(StackError, match="no local stack runs under"):
        connect_args(free_port_settings(tmp_path / "empty"))


def test_a_second_stack_in_the_same_home_is_refused(stack: LocalStack) -> None:
    with pytest.raises(StackError, match="already runs under"):
        LocalStack(free_port_settings(stack.home)).start()
    assert status(stack.home).running  # the first one is untouched


def test_a_taken_port_is_named(stack: LocalStack, tmp_path: Path) -> None:
    taken = int(stack.temporal_address.rpartition(":")[2])
    settings = free_port_settings(tmp_path / "home")
    settings.temporal.ports.grpc = taken
    with pytest.raises(StackError, match=r"port \d+ \(temporal.ports.grpc\) is already in use"):
        LocalStack(settings).start()
    assert not state_path(tmp_path / "home").exists()


def test_external_services_are_used_and_never_stopped(stack: LocalStack, tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path / "home",
        temporal=TemporalSettings(address=stack.temporal_address, web_ui_url="https://ui.example"),
        elasticsearch=ElasticsearchSettings(url=stack.elasticsearch_url),
    )
    with LocalStack(settings) as external:
        assert external.temporal_address == stack.temporal_address
        assert external.web_ui_url == "https://ui.example"
        assert not any(c.managed for c in status(external.home).components)
    assert status(stack.home).running


async def test_two_stacks_side_by_side_then_exit_stops_everything(stack: LocalStack, tmp_path: Path) -> None:
    home = tmp_path / "home-b"
    # A stale state file left by a crashed run must not block the start.
    save_state(
        StackState(
            home=home,
            temporal_address="127.0.0.1:1",
            namespace="default",
            processes={Component.TEMPORAL: ProcessRecord(pid=dead_pid())},
        )
    )
    assert status(home).phase is StackPhase.STALE
    with LocalStack(free_port_settings(home, namespace="ir")) as second:
        assert second.temporal_address != stack.temporal_address
        assert second.elasticsearch_url != stack.elasticsearch_url
        for running in (stack, second):
            client = await connect(running.connect_args())
            described = await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=running.namespace)
            )
            assert described.namespace_info.name == running.namespace
        assert second.elasticsearch_url is not None
        assert "version" in get_json(second.elasticsearch_url + "/")
        pids = list(second.state.pids().values())
        ports = [
            int(second.temporal_address.rpartition(":")[2]),
            int(second.elasticsearch_url.rpartition(":")[2]),
        ]
        assert (home / "temporal.db").exists() and (home / "siem").is_dir()
    assert pids and not any(is_alive(pid) for pid in pids)
    assert not any(port_open("127.0.0.1", port) for port in ports)
    assert not state_path(home).exists() and status(home).phase is StackPhase.NOT_RUNNING
    assert status(stack.home).running  # the neighbour still runs


LAUNCHER = textwrap.dedent(
    """
    import subprocess, sys
    from engine.settings import Settings
    from engine.stack.local import LocalStack

    stack = LocalStack(Settings.load(), detach=True).start()
    worker = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )
    stack.record(worker_pid=worker.pid, receiver_url="http://127.0.0.1:1")
    """
)


async def test_detached_stack_outlives_its_launcher_and_stop_detached_ends_it(tmp_path: Path) -> None:
    home = tmp_path / "detached"
    env = {
        **os.environ,
        "FIRELINE_HOME": str(home),
        "FIRELINE_TEMPORAL__PORTS__GRPC": "0",
        "FIRELINE_TEMPORAL__PORTS__UI": "0",
        "FIRELINE_TEMPORAL__PORTS__HTTP": "0",
        "FIRELINE_ELASTICSEARCH__PORT": "0",
    }
    launcher = await asyncio.create_subprocess_exec(sys.executable, "-c", LAUNCHER, cwd=REPO, env=env)
    assert await asyncio.wait_for(launcher.wait(), timeout=60) == 0  # the launcher has exited

    state = await asyncio.to_thread(wait_for_stack, home, timeout=10, require_worker=True)
    assert state.detached and state.worker_pid is not None
    report = status(home)
    assert report.running and report.detached and report.receiver_url == "http://127.0.0.1:1"
    assert {c.component for c in report.components if c.alive} == {
        Component.TEMPORAL,
        Component.ELASTICSEARCH,
        Component.WORKER,
    }
    client = await connect(Settings(home=home).temporal_connect_kwargs(address=state.temporal_address))
    assert [wf async for wf in client.list_workflows()] == []

    messages = await asyncio.to_thread(stop_detached, home)
    pids = state.pids()
    assert f"stopped worker (pid {pids[Component.WORKER]})" in messages
    assert f"stopped temporal (pid {pids[Component.TEMPORAL]})" in messages
    assert f"stopped elasticsearch (pid {pids[Component.ELASTICSEARCH]})" in messages
    assert not any(is_alive(pid) for pid in pids.values())
    assert load_state(home) is None and status(home).phase is StackPhase.NOT_RUNNING
    assert stop_detached(home) == []  # nothing left to stop


def test_stop_detached_on_a_stale_file_reports_and_clears(tmp_path: Path) -> None:
    pid = dead_pid()
    save_state(
        StackState(
            home=tmp_path,
            temporal_address="127.0.0.1:1",
            namespace="default",
            processes={Component.ELASTICSEARCH: ProcessRecord(pid=pid)},
        )
    )
    report = status(tmp_path)
    elasticsearch = next(c for c in report.components if c.component is Component.ELASTICSEARCH)
    assert report.phase is StackPhase.STALE and elasticsearch.alive is False
    assert stop_detached(tmp_path) == [f"elasticsearch (pid {pid}) was not running"]
    assert not state_path(tmp_path).exists()


def test_damaged_state_file_is_reported_not_crashed_on(tmp_path: Path) -> None:
    state_path(tmp_path).write_text("{not json")
    assert status(tmp_path).phase is StackPhase.NOT_RUNNING
    with pytest.raises(StackError, match="is damaged"):
        LocalStack(free_port_settings(tmp_path)).start()
