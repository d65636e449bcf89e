"""Shared fixtures: every server a test needs is started here and stopped after."""

from __future__ import annotations

from tests.fixtures.temporal import client, skipping_env, task_queue, temporal_env

__all__ = ["client", "skipping_env", "task_queue", "temporal_env"]
