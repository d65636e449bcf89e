"""Fixtures of the workflow tests: a worker of the test registry on the test's own task queue."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.client import Client
from temporalio.worker import Worker

from engine.activities.run_action import ActionRunner
from engine.worker import build_worker
from tests.fixtures.actions import TEST_REGISTRY


@pytest_asyncio.fixture
async def worker(client: Client, task_queue: str) -> AsyncIterator[Worker]:
    """A worker running the test registry's actions, stopped after the test."""
    async with build_worker(client, task_queue, runner=ActionRunner(TEST_REGISTRY)) as w:
        yield w
