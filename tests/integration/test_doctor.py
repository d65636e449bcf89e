"""`fireline doctor` says exactly what is wrong with each configured system."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from engine.doctor import diagnose
from integrations.slack.testing import FakeSlack
from tests.fixtures.elasticsearch import elasticsearch_url
from tests.fixtures.slack import BOT_TOKEN, fake_slack

__all__ = ["elasticsearch_url", "fake_slack"]


@pytest.fixture
def configured(
    monkeypatch: pytest.MonkeyPatch, temporal_env: WorkflowEnvironment, elasticsearch_url: str, tmp_path: Path
) -> None:
    monkeypatch.chdir(Path(__file__).parents[2])
    monkeypatch.setenv("FIRELINE_HOME", str(tmp_path))
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_env.client.service_client.config.target_host)
    monkeypatch.setenv("FIRELINE_TEMPORAL__TASK_QUEUE", f"doctor-{tmp_path.name}")  # a queue no test polls
    monkeypatch.setenv("ELASTICSEARCH_URL", elasticsearch_url)


def lines(report_text: str) -> dict[str, str]:
    out = {}
    for line in report_text.splitlines():
        level, _, rest = line.partition(" ")
        setting, _, message = rest.strip().partition(": ")
        out[setting] = f"{level} {message}"
    return out


async def test_healthy_systems_and_the_missing_worker(configured: None) -> None:
    report = await diagnose()
    found = lines(report.render())
    assert found["temporal"].startswith("ok ") and "namespace default answers" in found["temporal"]
    assert found["temporal.task_queue"].startswith("warning no worker polls 'doctor-")
    assert found["elasticsearch"].startswith("ok ") and "answers as 8." in found["elasticsearch"]
    assert report.ok


async def test_wrong_slack_token_and_unreachable_siem_are_named(
    configured: None, monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-wrong")
    monkeypatch.setenv("SLACK_API_URL", fake_slack.api_url)
    monkeypatch.setenv("ELASTICSEARCH_URL", "http://127.0.0.1:9")
    report = await diagnose()
    found = lines(report.render())
    assert not report.ok
    assert found["slack.bot_token"] == "error Slack refused the token: invalid_auth"
    assert found["elasticsearch"].startswith("error http://127.0.0.1:9: ConnectionError")

    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("FIRELINE_SLACK__APPROVALS_CHANNEL", "C-nope")
    found = lines((await diagnose()).render())
    assert found["slack"].startswith("ok bot ")
    assert found["slack.approvals_channel"] == "error C-nope: channel_not_found"
