"""Elasticsearch down, slow, rate limiting or refusing: steps retry within policy, then on_error / on_failure.

A small proxy sits in front of the real local SIEM and injects the fault; the real client, the real
actions and the real workflow on a dev server do the rest. The timeline must show every attempt and why.
"""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from temporalio.client import Client

from engine import client as fl
from engine.activities.run_action import ActionRunner
from engine.plan.state import RunState, RunStatus, StepStatus
from engine.registry import REGISTRY
from engine.stack.processes import free_port
from engine.worker import build_worker
from tests.fixtures.elasticsearch import elasticsearch_url
from tests.workflow.test_playbook_run import alert, plan_of

__all__ = ["elasticsearch_url"]


class FaultProxy(BaseHTTPRequestHandler):
    """Forwards to the real server unless a fault is armed: ``mode`` for the next ``times`` requests."""

    upstream: ClassVar[str] = ""
    mode: ClassVar[str] = "pass"
    times: ClassVar[int] = 0
    seen: ClassVar[int] = 0

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        cls = type(self)
        cls.seen += 1
        if cls.times > 0 and self.path != "/":
            cls.times -= 1
            if cls.mode == "slow":
                time.sleep(2.5)
            elif cls.mode in ("429", "503"):
                status = int(cls.mode)
                error = b'{"type":"es_rejected_execution_exception","reason":"busy"}'
                data = b'{"error":%s,"status":%d}' % (error, status)
                self._send(status, data, {"X-Elastic-Product": "Elasticsearch"})
                return
        request = urllib.request.Request(cls.upstream + self.path, data=body or None, method=self.command)
        for name in ("Content-Type", "Accept"):
            if self.headers.get(name):
                request.add_header(name, self.headers[name])
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                self._send(answer.status, answer.read(), dict(answer.headers))
        except urllib.error.HTTPError as err:
            self._send(err.code, err.read(), dict(err.headers))

    def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def proxy(elasticsearch_url: str) -> Iterator[str]:
    FaultProxy.upstream = elasticsearch_url.rstrip("/")
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), FaultProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def arm(mode: str, times: int) -> None:
    FaultProxy.mode, FaultProxy.times = mode, times


PLAYBOOK = """\
metadata: {{ name: siem-faults, version: 1 }}
steps:
  - id: evidence
    uses: elasticsearch.count
    timeout: 1s
    retry: {{ attempts: 3, initial: 100ms, backoff: 1.0, max: 1s }}
    on_error: {on_error}
    with: {{ index: "{index}", query: {query} }}
  - id: after
    uses: core.echo
    with: {{ message: "evidence {{{{ steps.evidence.status }}}}" }}
on_failure:
  - id: page_humans
    uses: core.echo
    with: {{ message: "failed at {{{{ failure.step }}}}: {{{{ failure.message }}}}" }}
"""


async def run_playbook(client: Client, task_queue: str, url: str, **fmt: str) -> RunState:
    import integrations.elasticsearch.actions  # noqa: F401 - registers elasticsearch.*

    params = {"on_error": "fail", "index": "fireline-fault-*", "query": "{ match_all: {} }", **fmt}
    plan = plan_of(PLAYBOOK.format(**params), registry=REGISTRY)
    runner = ActionRunner(REGISTRY, settings={"ELASTICSEARCH_URL": url})
    async with build_worker(client, task_queue, runner=runner):
        run = await fl.start_run(client, plan, alert(), {}, task_queue=task_queue)
        await client.get_workflow_handle(run.run_id).result()
        return await fl.status(client, run.run_id)


def errors(state: RunState, path: str = "evidence") -> list[str | None]:
    record = state.step(path)
    assert record is not None
    return [a.error_type for a in record.attempts]


async def test_rate_limited_then_served(client: Client, task_queue: str, proxy: str) -> None:
    arm("429", 2)
    state = await run_playbook(client, task_queue, proxy)
    assert errors(state) == ["TooManyRequests", "TooManyRequests", None]
    assert state.status is RunStatus.SUCCEEDED


async def test_unavailable_exhausts_retries_then_on_failure(
    client: Client, task_queue: str, proxy: str
) -> None:
    arm("503", 10)
    state = await run_playbook(client, task_queue, proxy)
    arm("pass", 0)
    assert errors(state) == ["Unavailable"] * 3
    assert state.status is RunStatus.FAILED and state.step("after") is None
    page = state.step("on_failure.page_humans")
    assert page is not None and page.output["message"].startswith("failed at evidence: ")


async def test_down_with_on_error_continue(client: Client, task_queue: str) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    state = await run_playbook(client, task_queue, closed, on_error="continue")
    assert errors(state) == ["Unavailable"] * 3
    assert state.status is RunStatus.SUCCEEDED
    assert state.step("after").output == {"message": "evidence failed"}  # type: ignore[union-attr]


async def test_slow_answers_time_out_each_attempt(client: Client, task_queue: str, proxy: str) -> None:
    arm("slow", 10)
    state = await run_playbook(client, task_queue, proxy)
    arm("pass", 0)
    assert errors(state) == ["Timeout"] * 3
    assert state.status is RunStatus.FAILED


async def test_bad_query_fails_at_once_with_the_reason(client: Client, task_queue: str, proxy: str) -> None:
    state = await run_playbook(client, task_queue, proxy, query="{ no_such_query: {} }", on_error="continue")
    record = state.step("evidence")
    assert record is not None and record.status is StepStatus.FAILED and len(record.attempts) == 1
    assert record.error_type == "BadRequest" and "no_such_query" in (record.error or "")
    assert "Traceback" not in (record.error or "")
