"""Structured logs (engine.observability): one JSON object a line, run and step ids, no secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from engine.errors import ConfigError
from engine.observability import (
    REDACTED,
    LogFormat,
    ObservabilitySettings,
    SecretValues,
    bind_log_context,
    configure_logging,
    observability_settings,
    redact,
    register_settings_secrets,
)
from engine.settings import Settings

SLACK_TOKEN = "xoxb-1234567890-abcdefghijklmnop"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = configure_logging(ObservabilitySettings(log_format=LogFormat.JSON), stream=out)
    yield out
    logging.getLogger().removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_line_is_one_json_object_with_the_usual_fields(stream: io.StringIO) -> None:
    logging.getLogger("fireline.test").warning("step %s failed after %d attempts", "contain", 3)
    (line,) = _lines(stream)
    assert line["level"] == "warning"
    assert line["logger"] == "fireline.test"
    assert line["message"] == "step contain failed after 3 attempts"
    assert line["ts"].endswith("Z") and "T" in line["ts"]
    assert line["run_id"] is None and line["step_id"] is None


def test_run_and_step_ids_are_carried_on_every_line_inside_the_block(stream: io.StringIO) -> None:
    log = logging.getLogger("fireline.activity")
    with bind_log_context(run_id="contain-model-1a2b", step_id="revoke_keys[0].revoke", playbook="contain"):
        log.info("calling IAM")
        with bind_log_context(action="aws.revoke_key"):
            log.info("revoked")
    log.info("outside")
    inside, nested, outside = _lines(stream)
    assert inside["run_id"] == "contain-model-1a2b"
    assert inside["step_id"] == "revoke_keys[0].revoke"
    assert nested["action"] == "aws.revoke_key" and nested["playbook"] == "contain"
    assert outside["run_id"] is None


def test_extra_fields_and_exceptions_are_kept(stream: io.StringIO) -> None:
    try:
        raise RuntimeError("Elasticsearch said no")
    except RuntimeError:
        logging.getLogger("x").exception("search failed", extra={"index": "logs-*", "took_ms": 12})
    (line,) = _lines(stream)
    assert line["index"] == "logs-*" and line["took_ms"] == 12
    assert "RuntimeError: Elasticsearch said no" in line["error"]


def test_registered_secret_values_never_reach_the_log(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELASTICSEARCH_API_KEY", "ZXNrZXk6c2VjcmV0dmFsdWU=")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5")
    monkeypatch.setenv("FIRELINE_PSEUDONYM_KEY", "cHNldWRvbnltLWtleQ==")
    settings = Settings.load()
    register_settings_secrets(settings)
    log = logging.getLogger("fireline.receiver")
    log.info("connecting with key ZXNrZXk6c2VjcmV0dmFsdWU= to the cluster")
    log.info("bad signature %s", "8f742231b10e8888abcd99yyyzzz85a5")
    log.info("hashing with cHNldWRvbnltLWtleQ==")
    try:
        raise ValueError("request failed: key=ZXNrZXk6c2VjcmV0dmFsdWU=")
    except ValueError:
        log.exception("boom")
    text = stream.getvalue()
    assert "ZXNrZXk6c2VjcmV0dmFsdWU=" not in text
    assert "8f742231b10e8888abcd99yyyzzz85a5" not in text
    assert "cHNldWRvbnltLWtleQ==" not in text
    assert text.count(REDACTED) >= 4


def test_secret_named_fields_and_token_shapes_are_redacted(stream: io.StringIO) -> None:
    log = logging.getLogger("fireline.slack")
    log.info("posting", extra={"headers": {"Authorization": "Bearer abc.def.ghi", "Accept": "json"}})
    log.info("token is %s", SLACK_TOKEN)
    log.info("header Authorization: Bearer sk-live-0123456789abcdef was refused")
    log.info("url https://x/?api_key=hunter2hunter2&page=2")
    log.info("password=correcthorse and nothing else", extra={"db_password": "correcthorse"})
    first, token, header, url, password = _lines(stream)
    assert first["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert SLACK_TOKEN not in token["message"]
    assert "sk-live-0123456789abcdef" not in header["message"] and "refused" in header["message"]
    assert "hunter2hunter2" not in url["message"] and "page=2" in url["message"]
    assert "correcthorse" not in json.dumps(password)


def test_hostile_messages_do_not_break_logging(stream: io.StringIO) -> None:
    log = logging.getLogger("fireline.ingest")
    log.info("alert title: %s", '{"injected": true}\n{{ 7*7 }} \x00 \u202e')
    log.info("wrong args %s %s", "only-one")
    lines = _lines(stream)
    assert len(lines) == 2
    assert lines[0]["message"].startswith("alert title: {")
    assert "unformattable" in lines[1]["message"]


def test_text_format_also_carries_ids_and_redacts() -> None:
    out = io.StringIO()
    handler = configure_logging(ObservabilitySettings(), stream=out)
    try:
        with bind_log_context(run_id="r-1", step_id="notify"):
            logging.getLogger("fireline").info("sent with %s", SLACK_TOKEN)
    finally:
        logging.getLogger().removeHandler(handler)
    line = out.getvalue()
    assert "[run=r-1 step=notify]" in line
    assert SLACK_TOKEN not in line


def test_redact_walks_nested_values() -> None:
    secrets = SecretValues()
    secrets.add(SecretStr("s3cr3t-value"), "short")
    data = {"user": "u1", "nested": [{"token": "x"}, "has s3cr3t-value inside"], "api_key": 1}
    assert redact(data, secrets) == {
        "user": "u1",
        "nested": [{"token": REDACTED}, f"has {REDACTED} inside"],
        "api_key": REDACTED,
    }
    assert secrets.scrub("short words stay") == "short words stay"


def test_observability_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIRELINE_OBSERVABILITY__LOG_FORMAT", "json")
    monkeypatch.setenv("FIRELINE_OBSERVABILITY__METRICS_LISTEN", "0.0.0.0:9464")
    obs = observability_settings(Settings.load())
    assert obs.log_format is LogFormat.JSON
    assert obs.metrics_listen == "0.0.0.0:9464"
    monkeypatch.setenv("FIRELINE_OBSERVABILITY__METRICS_LISTEN", "nowhere")
    with pytest.raises(ConfigError, match=r"observability\.metrics_listen: .*host:port"):
        Settings.load()
