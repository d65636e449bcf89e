"""`slack.mode: socket` makes the receiver services connect over Socket Mode (no public endpoint)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import Client

from engine.errors import ConfigError
from engine.security_audit import SecurityAudit
from engine.serve import serve_slack_socket
from engine.settings import Settings
from integrations.slack.testing import FakeSlack
from tests.fixtures.slack import APP_TOKEN, BOT_TOKEN, fake_slack

__all__ = ["fake_slack"]


async def test_socket_mode_connects_and_disconnects(
    client: Client, fake_slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    monkeypatch.setenv("SLACK_API_URL", fake_slack.api_url)
    monkeypatch.setenv("FIRELINE_SLACK__MODE", "socket")
    settings = Settings.load()
    stop = asyncio.Event()
    task = asyncio.create_task(serve_slack_socket(settings, client, SecurityAudit(None, tmp_path), stop))
    assert await asyncio.to_thread(fake_slack.socket_mode.wait_connected)
    assert fake_slack.calls("apps.connections.open")
    stop.set()
    await asyncio.wait_for(task, 10)

    monkeypatch.delenv("SLACK_APP_TOKEN")
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        await serve_slack_socket(Settings.load(), client, SecurityAudit(None, tmp_path), asyncio.Event())
