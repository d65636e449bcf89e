"""Configuration and failure behaviour of the Elasticsearch actions.

The local server has no security, rate limits or outages to show, so a small loopback HTTP server
answers the way Elasticsearch (or a proxy in front of it) does when they happen: status codes and
error bodies copied from Elasticsearch's documented responses. The real client talks to it.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from engine.sdk import ActionError
from engine.stack.processes import free_port
from integrations.elasticsearch.client import client_from_context, close_clients
from integrations.elasticsearch.testing import action_context
from tests.integration.conftest_es import run

pytestmark = pytest.mark.integration

API_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("parsing_exception", "unknown query [no_such_query]"),
    401: ("security_exception", "missing authentication credentials for REST request [/logs/_count]"),
    403: ("security_exception", "action [indices:data/read/search] is unauthorized for API key id [k1]"),
    404: ("index_not_found_exception", "no such index [logs]"),
    409: ("version_conflict_engine_exception", "[1]: version conflict, document already exists"),
    429: ("es_rejected_execution_exception", "rejected execution of coordinating operation"),
    500: ("search_phase_execution_exception", "all shards failed"),
    503: ("cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered];"),
}


class _FakeCluster(BaseHTTPRequestHandler):
    """Answers by the index name in the path: ``status-429`` fails with 429, and so on."""

    seen: list[dict[str, str]]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        target = self.path.strip("/").split("/")[0].split("?")[0]
        headers = {"X-Elastic-Product": "Elasticsearch", "Content-Type": "application/json"}
        status, body = 200, json.dumps({"count": 3, "_shards": {"total": 1, "successful": 1, "failed": 0}})
        if target.startswith("status-"):
            status = int(target.removeprefix("status-"))
            es_type, reason = _ERRORS[status]
            error = {"root_cause": [{"type": es_type, "reason": reason}], "type": es_type, "reason": reason}
            body = json.dumps({"error": error, "status": status})
        elif target == "proxy-502":
            status, body, headers = 502, "<html>Bad Gateway</html>", {"Content-Type": "text/html"}
        elif target == "not-elasticsearch":
            headers = {"Content-Type": "application/json"}
        elif target == "slow":
            time.sleep(1.0)
        data = body.encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


@pytest.fixture(scope="module")
def fake_cluster() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """URL of the loopback server and the headers of every request it received."""
    seen: list[dict[str, str]] = []
    handler = type("Handler", (_FakeCluster,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        close_clients()


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, "BadRequest", False),
        (401, "Unauthorized", False),
        (403, "Forbidden", False),
        (404, "IndexNotFound", False),
        (409, "Conflict", False),
        (429, "TooManyRequests", True),
        (500, "Unavailable", True),
        (503, "Unavailable", True),
    ],
)
def test_http_failures_map_to_type_and_retry(
    fake_cluster: tuple[str, list[dict[str, str]]], status: int, kind: str, retryable: bool
) -> None:
    url, _ = fake_cluster
    ctx = action_context(url, secrets={"ELASTICSEARCH_API_KEY": API_KEY})
    with pytest.raises(ActionError) as err:
        run("elasticsearch.count", ctx, index=f"status-{status}")
    assert (err.value.type, err.value.retryable) == (kind, retryable)
    message = str(err.value)
    assert _ERRORS[status][1] in message, "the step error carries Elasticsearch's reason"
    assert str(status) in message
    assert API_KEY not in message


def test_a_proxy_error_page_is_retryable(fake_cluster: tuple[str, list[dict[str, str]]]) -> None:
    with pytest.raises(ActionError) as err:
        run("elasticsearch.count", action_context(fake_cluster[0]), index="proxy-502")
    assert (err.value.type, err.value.retryable) == ("Unavailable", True)


def test_a_server_that_is_not_elasticsearch_is_refused(
    fake_cluster: tuple[str, list[dict[str, str]]],
) -> None:
    with pytest.raises(ActionError) as err:
        run("elasticsearch.count", action_context(fake_cluster[0]), index="not-elasticsearch")
    assert (err.value.type, err.value.retryable) == ("UnsupportedServer", False)


def test_a_slow_cluster_times_out_and_may_be_retried(fake_cluster: tuple[str, list[dict[str, str]]]) -> None:
    ctx = action_context(fake_cluster[0], settings={"ELASTICSEARCH_TIMEOUT": "0.2"})
    with pytest.raises(ActionError) as err:
        run("elasticsearch.count", ctx, index="slow")
    assert (err.value.type, err.value.retryable) == ("Timeout", True)


def test_nothing_listening_is_retryable() -> None:
    with pytest.raises(ActionError) as err:
        run("elasticsearch.count", action_context(f"http://127.0.0.1:{free_port()}"), index="logs")
    assert (err.value.type, err.value.retryable) == ("Unavailable", True)


def test_tls_to_a_plain_http_server_fails_for_good(fake_cluster: tuple[str, list[dict[str, str]]]) -> None:
    url = fake_cluster[0].replace("http://", "https://")
    with pytest.raises(ActionError) as err:
        run("elasticsearch.count", action_context(url), index="logs")
    assert (err.value.type, err.value.retryable) == ("TLSError", False)


def test_api_key_is_sent_from_the_secret(fake_cluster: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = fake_cluster
    out = run(
        "elasticsearch.count", action_context(url, secrets={"ELASTICSEARCH_API_KEY": API_KEY}), index="logs"
    )
    assert out == {"count": 3}
    assert seen[-1]["authorization"] == f"ApiKey {API_KEY}"


def test_basic_auth_from_secrets_or_from_the_url(fake_cluster: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = fake_cluster
    secrets = {"ELASTICSEARCH_USERNAME": "fireline", "ELASTICSEARCH_PASSWORD": "pa:ss"}
    run("elasticsearch.count", action_context(url, secrets=secrets), index="logs")
    assert seen[-1]["authorization"] == "Basic " + base64.b64encode(b"fireline:pa:ss").decode()
    with_userinfo = url.replace("http://", "http://elastic:s3cr%40t@")
    with pytest.raises(ActionError) as err:
        run("elasticsearch.count", action_context(with_userinfo), index="status-401")
    assert seen[-1]["authorization"] == "Basic " + base64.b64encode(b"elastic:s3cr@t").decode()
    assert "s3cr" not in str(err.value)


def test_clients_are_cached_per_connection(fake_cluster: tuple[str, list[dict[str, str]]]) -> None:
    url = fake_cluster[0]
    one = client_from_context(action_context(url, secrets={"ELASTICSEARCH_API_KEY": "a"}))
    same = client_from_context(action_context(url, secrets={"ELASTICSEARCH_API_KEY": "a"}, run_id="other"))
    other_key = client_from_context(action_context(url, secrets={"ELASTICSEARCH_API_KEY": "b"}))
    assert one is same
    assert other_key is not one


def test_missing_or_wrong_configuration_fails_for_good(
    monkeypatch: pytest.MonkeyPatch, fake_cluster: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    url = fake_cluster[0]
    cases: list[tuple[Any, str]] = [
        (action_context(), "ELASTICSEARCH_URL is not set"),
        (action_context("ftp://127.0.0.1:9200"), "must look like"),
        (action_context(url, secrets={"ELASTICSEARCH_USERNAME": "u"}), "set both"),
        (action_context(url, settings={"ELASTICSEARCH_CA_FILE": str(tmp_path / "no.pem")}), "not a readable"),
        (action_context(url, settings={"ELASTICSEARCH_TIMEOUT": "soon"}), "number of seconds"),
    ]
    for ctx, fragment in cases:
        with pytest.raises(ActionError) as err:
            run("elasticsearch.count", ctx, index="logs")
        assert (err.value.type, err.value.retryable) == ("NotConfigured", False)
        assert fragment in str(err.value)


def test_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, fake_cluster: tuple[str, list[dict[str, str]]]
) -> None:
    monkeypatch.setenv("ELASTICSEARCH_URL", fake_cluster[0])
    assert run("elasticsearch.count", action_context(), index="logs") == {"count": 3}
