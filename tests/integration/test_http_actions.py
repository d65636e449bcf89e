"""``http.request`` and ``webhook.post`` against real HTTP servers on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.sdk import ActionError
from engine.stack.processes import free_port
from integrations.http import actions
from integrations.http.signing import verify
from integrations.http.testing import EchoServer, invoke
from tests.fixtures.http import (  # noqa: F401
    Certificate,
    echo_server,
    make_context,
    tls_certificate,
)

pytestmark = pytest.mark.integration
TOKEN = "tok-very-secret-123"


def _fails(func: object, **args: object) -> ActionError:
    ctx = args.pop("ctx", None) or make_context()
    with pytest.raises(ActionError) as caught:
        invoke(func, ctx, **args)  # type: ignore[arg-type]
    return caught.value


# --- http.request -------------------------------------------------------------------------------------


def test_request_fills_headers_from_a_named_secret_and_never_returns_it(echo_server: EchoServer) -> None:
    echo_server.reply("/api/items", json={"items": [1, 2]})
    ctx = make_context(secrets={"HTTP_API_TOKEN": TOKEN})
    out = invoke(
        actions.request,
        ctx,
        url=echo_server.url("/api/items"),
        query={"q": "model", "limit": 5},
        headers={"Accept": "application/json"},
        headers_from_secret={"Authorization": "HTTP_API_TOKEN"},
    )
    assert out["status"] == 200
    assert out["json"] == {"items": [1, 2]}
    seen = echo_server.calls("GET", "/api/items")[0]
    assert seen.header("authorization") == TOKEN
    assert seen.query == {"q": ["model"], "limit": ["5"]}
    assert TOKEN not in repr(out)


def test_a_secret_the_server_echoes_back_is_redacted(echo_server: EchoServer) -> None:
    echo_server.reply("/whoami", json={"you_sent": f"Bearer {TOKEN}"}, headers={"X-Echo": TOKEN})
    echo_server.reply("/denied", status=403, body=f"token {TOKEN} is revoked".encode())
    ctx = make_context(secrets={"HTTP_API_TOKEN": TOKEN})
    out = invoke(
        actions.request,
        ctx,
        url=echo_server.url("/whoami"),
        headers_from_secret={"Authorization": "HTTP_API_TOKEN"},
    )
    assert out["json"] == {"you_sent": "Bearer [redacted]"}
    assert out["headers"]["x-echo"] == "[redacted]"
    error = _fails(
        actions.request,
        ctx=ctx,
        url=echo_server.url("/denied"),
        headers_from_secret={"X-Key": "HTTP_API_TOKEN"},
    )
    assert TOKEN not in str(error)
    assert "[redacted] is revoked" in str(error)


def test_request_posts_json_and_sends_the_idempotency_key_when_asked(echo_server: EchoServer) -> None:
    echo_server.reply("/tickets", status=201, json={"id": "T-1"})
    ctx = make_context(idempotency_key="run-9/open_ticket/0")
    out = invoke(
        actions.request,
        ctx,
        method="POST",
        url=echo_server.url("/tickets"),
        json={"title": "model quarantined", "tags": ["ai"]},
        expected_status=[201],
        idempotency_header="Idempotency-Key",
    )
    assert out == {**out, "status": 201, "json": {"id": "T-1"}}
    seen = echo_server.calls("POST", "/tickets")[0]
    assert seen.json == {"title": "model quarantined", "tags": ["ai"]}
    assert seen.header("content-type") == "application/json"
    assert seen.header("idempotency-key") == "run-9/open_ticket/0"


def test_request_sends_a_text_body(echo_server: EchoServer) -> None:
    out = invoke(
        actions.request, make_context(), method="PUT", url=echo_server.url("/note"), body="plain words"
    )
    assert out["json"]["body"] == "plain words"
    assert echo_server.requests[0].header("content-type") == "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (500, "Unavailable", True),
        (503, "Unavailable", True),
        (429, "RateLimited", True),
        (404, "NotFound", False),
        (401, "Unauthorized", False),
        (400, "BadRequest", False),
        (418, "ClientError", False),
    ],
)
def test_statuses_outside_the_expected_fail_with_a_retry_verdict(
    echo_server: EchoServer, status: int, kind: str, retryable: bool
) -> None:
    echo_server.reply("/x", status=status, json={"error": "nope"})
    error = _fails(actions.request, url=echo_server.url("/x?api_key=should-not-leak"))
    assert (error.type, error.retryable) == (kind, retryable)
    assert f"answered {status}" in str(error)
    assert "should-not-leak" not in str(error)


def test_an_unexpected_success_status_is_not_retried(echo_server: EchoServer) -> None:
    echo_server.reply("/x", status=200, json={})
    error = _fails(actions.request, url=echo_server.url("/x"), expected_status=[201, 204])
    assert (error.type, error.retryable) == ("UnexpectedStatus", False)
    assert "expected 201, 204" in str(error)


def test_an_expected_error_status_is_a_success(echo_server: EchoServer) -> None:
    echo_server.reply("/gone", status=404, json={"error": "gone"})
    out = invoke(actions.request, make_context(), url=echo_server.url("/gone"), expected_status=[200, 404])
    assert out["status"] == 404


def test_connection_refused_is_retryable() -> None:
    error = _fails(actions.request, url=f"http://127.0.0.1:{free_port()}/")
    assert (error.type, error.retryable) == ("Unavailable", True)


def test_a_slow_server_times_out_and_may_be_retried(echo_server: EchoServer) -> None:
    echo_server.reply("/slow", json={}, delay_s=1.0)
    error = _fails(actions.request, url=echo_server.url("/slow"), timeout=0.2)
    assert (error.type, error.retryable) == ("Timeout", True)


def test_the_response_body_is_capped(echo_server: EchoServer) -> None:
    echo_server.reply("/big", body=b"x" * 200_000)
    out = invoke(actions.request, make_context(), url=echo_server.url("/big"), max_response_bytes=1000)
    assert out["truncated"] is True
    assert len(out["body"]) == 1000


def test_a_large_json_answer_past_the_cap_is_returned_as_cut_text(echo_server: EchoServer) -> None:
    echo_server.reply("/rows", json={"rows": list(range(5000))})
    out = invoke(actions.request, make_context(), url=echo_server.url("/rows"), max_response_bytes=100)
    assert out["truncated"] is True
    assert "json" not in out
    assert out["body"].startswith('{"rows": [0, 1')


def test_secret_names_outside_the_http_namespace_are_refused() -> None:
    with pytest.raises(ValidationError, match="HTTP_<NAME>"):
        invoke(
            actions.request,
            make_context(secrets={"LITELLM_MASTER_KEY": "sk-master"}),
            url="https://example.com/",
            headers_from_secret={"Authorization": "LITELLM_MASTER_KEY"},
        )


def test_a_missing_secret_fails_without_retry(echo_server: EchoServer) -> None:
    error = _fails(
        actions.request, url=echo_server.url("/"), headers_from_secret={"X-Token": "HTTP_NOT_CONFIGURED"}
    )
    assert (error.type, error.retryable) == ("SecretMissing", False)
    assert echo_server.requests == []


def test_a_named_secret_is_found_in_the_environment_and_in_a_file(
    echo_server: EchoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HTTP_ENV_TOKEN", "from-env")
    (tmp_path / "token").write_text("from-file\n")
    monkeypatch.setenv("WEBHOOK_FILE_TOKEN_FILE", str(tmp_path / "token"))
    invoke(
        actions.request,
        make_context(),
        url=echo_server.url("/"),
        headers_from_secret={"X-A": "HTTP_ENV_TOKEN", "X-B": "WEBHOOK_FILE_TOKEN"},
    )
    seen = echo_server.requests[0]
    assert (seen.header("x-a"), seen.header("x-b")) == ("from-env", "from-file")


def test_hosts_outside_the_allowed_list_are_not_called(echo_server: EchoServer) -> None:
    ctx = make_context(settings={"HTTP_ALLOWED_HOSTS": "hooks.example.com, *.internal"})
    error = _fails(actions.request, ctx=ctx, url=echo_server.url("/"))
    assert (error.type, error.retryable) == ("HostNotAllowed", False)
    assert echo_server.requests == []
    allowed = make_context(settings={"HTTP_ALLOWED_HOSTS": "127.0.0.*"})
    assert invoke(actions.request, allowed, url=echo_server.url("/"))["status"] == 200


@pytest.mark.parametrize(
    "args",
    [
        {"url": "ftp://example.com/"},
        {"url": "https://example.com/", "headers": {"X-A": "one\r\nX-Injected: two"}},
        {"url": "https://example.com/", "headers": {"Host": "evil"}},
        {"url": "https://example.com/", "json": {"a": 1}, "body": "b", "method": "POST"},
        {"url": "https://example.com/", "json": {"a": 1}},
        {"url": "https://example.com/", "expected_status": [700]},
    ],
)
def test_bad_arguments_are_refused_before_any_call(args: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        invoke(actions.request, make_context(), **args)


def test_tls_with_an_unknown_certificate_fails_and_a_configured_ca_works(
    tls_certificate: Certificate,
) -> None:
    with EchoServer(tls=tls_certificate.server_context()) as server:
        error = _fails(actions.request, url=server.url("/secure"))
        assert (error.type, error.retryable) == ("TLSError", False)
        ctx = make_context(settings={"HTTP_CA_FILE": str(tls_certificate.cert_file)})
        assert invoke(actions.request, ctx, url=server.url("/secure"))["status"] == 200


# --- webhook.post -------------------------------------------------------------------------------------


def test_webhook_is_signed_over_the_exact_body_and_carries_the_idempotency_key(
    echo_server: EchoServer,
) -> None:
    echo_server.reply("/hook", status=202, json={"accepted": True})
    ctx = make_context(secrets={"WEBHOOK_SIGNING_KEY": "whsec-1"}, idempotency_key="run-3/notify/0")
    document = {"incident": "run-3", "model": "fraud-scorer", "note": "ünïcode ok"}
    out = invoke(
        actions.post, ctx, url=echo_server.url("/hook"), json=document, signing_secret="WEBHOOK_SIGNING_KEY"
    )
    assert out["status"] == 202
    assert out["json"] == {"accepted": True}
    assert (out["delivery_id"], out["signed"]) == ("run-3/notify/0", True)
    seen = echo_server.calls("POST", "/hook")[0]
    assert seen.json == document
    assert seen.header("idempotency-key") == "run-3/notify/0"
    timestamp, signature = seen.header("x-fireline-timestamp"), seen.header("x-fireline-signature")
    assert timestamp is not None and signature is not None
    assert verify("whsec-1", timestamp, seen.body, signature)
    assert not verify("other-secret", timestamp, seen.body, signature)
    assert not verify("whsec-1", timestamp, seen.body + b" ", signature)
    assert not verify("whsec-1", int(timestamp) - 3600, seen.body, signature)


def test_webhook_retries_carry_the_same_delivery_key(echo_server: EchoServer) -> None:
    echo_server.fail(503, times=1)
    ctx = make_context(idempotency_key="run-4/hook/0")
    error = _fails(actions.post, ctx=ctx, url=echo_server.url("/hook"), json={"a": 1})
    assert (error.type, error.retryable) == ("Unavailable", True)
    retry = make_context(idempotency_key="run-4/hook/0", attempt=2)
    assert invoke(actions.post, retry, url=echo_server.url("/hook"), json={"a": 1})["status"] == 200
    keys = [r.header("idempotency-key") for r in echo_server.calls("POST", "/hook")]
    assert keys == ["run-4/hook/0", "run-4/hook/0"]


def test_webhook_refused_by_the_receiver_is_not_retried(echo_server: EchoServer) -> None:
    echo_server.reply("/hook", status=400, json={"error": "bad signature"})
    error = _fails(actions.post, url=echo_server.url("/hook"), json={})
    assert (error.type, error.retryable) == ("BadRequest", False)
    assert "bad signature" in str(error)


def test_webhook_unsigned_has_no_signature_headers(echo_server: EchoServer) -> None:
    out = invoke(actions.post, make_context(), url=echo_server.url("/hook"), json=[1, 2])
    assert out["signed"] is False
    assert echo_server.requests[0].header("x-fireline-signature") is None
