"""A flood of refused requests whose security audit is slow to store never stalls accepted alerts.

The receiver serves alerts and Slack interactivity on one port and one event loop; every forged Slack
request is a security event stored in Elasticsearch. Here that Elasticsearch (real noida-db) sits
behind a small real HTTP proxy that holds each bulk write for 2 s.
"""

from __future__ import annotations

import asyncio
import functools
import http.client
import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from temporalio.client import Client

from engine import client as fl
from engine.activities.audit import AuditStore
from engine.ingest.auth import SIGNATURE_HEADER, sign
from engine.ingest.receiver import build_app
from engine.ingest.server import ReceiverServer
from engine.ingest.slack_interactions import slack_interactions_route
from engine.plan.audit import AuditEvent, verify_chain
from engine.security_audit import SecurityAudit
from integrations.slack.client import make_client
from integrations.slack.testing import signed_request
from tests.fixtures.ingest import (
    SECRET,
    es_url,
    make_ingest,
    playbook_yaml,
    running_worker,
    unique,
    write_catalog,
)

__all__ = ["es_url"]
pytestmark = pytest.mark.integration
BULK_DELAY_S = 2.0
FLOOD = 8


class SlowElasticsearch:
    """Forwards every request to ``upstream``; holds each ``_bulk`` for ``delay_s`` and counts it."""

    def __init__(self, upstream: str, delay_s: float) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.delay_s = delay_s
        self.bulk_started = threading.Event()
        self.bulks_done = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            hop_by_hop: ClassVar[set[str]] = {"connection", "keep-alive", "transfer-encoding", "host"}

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                bulk = "/_bulk" in self.path
                if bulk:
                    proxy.bulk_started.set()
                    time.sleep(proxy.delay_s)
                upstream = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=30
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() not in self.hop_by_hop}
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                upstream.close()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in self.hop_by_hop and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                if bulk:
                    with proxy._lock:
                        proxy.bulks_done += 1

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def completed(self) -> int:
        """How many bulk writes have been answered so far."""
        with self._lock:
            return self.bulks_done


@pytest.fixture
def slow_es(es_url: str) -> Iterator[SlowElasticsearch]:
    proxy = SlowElasticsearch(es_url, BULK_DELAY_S)
    thread = threading.Thread(target=proxy.server.serve_forever, daemon=True)
    thread.start()
    yield proxy
    proxy.server.shutdown()
    proxy.server.server_close()


async def forged_slack_click(url: str) -> int:
    request = signed_request({"type": "block_actions"}, "not-the-secret", signature="v0=" + "0" * 64)
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.post(f"{url}/slack/interactions", content=request.body, headers=request.headers)
    return response.status_code


async def signed_alert(url: str, fingerprint: str, proxy: SlowElasticsearch) -> tuple[int, int, str]:
    """Post a valid alert: its status, how many slow audit writes had finished when it was answered,
    and the run it started."""
    doc = {"id": f"v-{uuid.uuid4().hex[:8]}", "rule": "gateway-x", "title": "t", "fingerprint": fingerprint}
    body = json.dumps(doc).encode()
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(SECRET, body)}
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.post(f"{url}/alerts/generic", content=body, headers=headers)
    done = proxy.completed()
    return response.status_code, done, response.json()["alerts"][0]["playbooks"][0]["run_id"]


async def test_a_refused_request_flood_does_not_stall_accepted_alerts(
    tmp_path: Path, client: Client, task_queue: str, slow_es: SlowElasticsearch, es_url: str
) -> None:
    trigger = 'any: [{source: generic, match: {rule: "gateway-*"}}]\ndedup: {key: "{{ alert.fingerprint }}"}'
    catalog = write_catalog(tmp_path / "pb", playbook_yaml(unique("flood"), trigger))
    ingest = make_ingest(tmp_path, client, task_queue, catalog)
    audit = SecurityAudit(AuditStore(slow_es.url), tmp_path)
    slack = slack_interactions_route(
        functools.partial(fl.decide, client),
        lambda: make_client("xoxb-unused", "http://127.0.0.1:9/api/"),
        audit,
        "the-signing-secret",
    )
    server = ReceiverServer(build_app(ingest, extra_routes=[slack]), "127.0.0.1", 0)
    url = await server.start()
    try:
        async with running_worker(client, task_queue) as leftovers:
            flood = [asyncio.create_task(forged_slack_click(url)) for _ in range(FLOOD)]
            while not slow_es.bulk_started.is_set():
                await asyncio.sleep(0.01)
            # The first slow audit write is under way: valid alerts arrive now.
            answers = await asyncio.gather(*(signed_alert(url, f"fp-{i}", slow_es) for i in range(3)))
            leftovers |= {run_id for _, _, run_id in answers}
            refused = await asyncio.gather(*flood)
    finally:
        await server.stop()
        await asyncio.to_thread(audit.close)

    assert refused == [401] * FLOOD
    # Every valid alert was answered while the first 2-second audit write was still in flight.
    assert [(status, done) for status, done, _ in answers] == [(202, 0)] * 3
    # Nothing was lost and the chain holds, in the file and in Elasticsearch, once flushed.
    lines = audit.path.read_text().splitlines()
    in_file = [AuditEvent.model_validate(json.loads(line)) for line in lines]
    assert [e.seq for e in in_file] == list(range(1, FLOOD + 1))
    assert verify_chain(audit.chain.run_id, in_file).ok
    stored = await asyncio.to_thread(AuditStore(es_url).read, audit.chain.run_id)
    assert [e.model_dump() for e in stored] == [e.model_dump() for e in in_file]
    assert {e.action for e in stored} == {"slack.request_refused"}
