"""A worker process for the crash test: its action writes to Elasticsearch, then (when told) hangs.

``python -m tests.reliability.crash_worker ADDRESS TASK_QUEUE`` with ``CRASH_MARKER=path`` set makes
the first attempt hang after the outside write, so the test can ``kill -9`` it at exactly that point.
SIGTERM stops it gracefully: polling ends and in-flight actions get time to finish.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from engine.activities.run_action import ActionRunner
from engine.registry import ActionRegistry
from engine.sdk import ActionContext, action
from engine.worker import build_worker
from integrations.core import actions as core
from integrations.elasticsearch import actions as es_actions
from integrations.elasticsearch.models import IndexParams

REGISTRY = ActionRegistry()
REGISTRY._loaded = True
action("core.echo", registry=REGISTRY)(core.echo)


@action("test.index_then_hang", registry=REGISTRY, idempotent=True)
def index_then_hang(ctx: ActionContext, index: str, document: dict[str, Any]) -> dict[str, Any]:
    """The real elasticsearch.index, then a hang before reporting when CRASH_MARKER is set."""
    result = es_actions.index(ctx, IndexParams(index=index, document=document))
    marker = os.environ.get("CRASH_MARKER")
    if marker:
        Path(marker).write_text(ctx.idempotency_key)
        time.sleep(600)
    return result


@action("test.pause", registry=REGISTRY, idempotent=True)
async def pause(seconds: float) -> dict[str, Any]:
    """Take a while, then say which worker process did it."""
    await asyncio.sleep(seconds)
    return {"pid": os.getpid()}


async def main(address: str, task_queue: str) -> None:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    runner = ActionRunner(REGISTRY, settings={"ELASTICSEARCH_URL": os.environ.get("ELASTICSEARCH_URL", "")})
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with build_worker(client, task_queue, runner=runner, graceful_shutdown_s=20):
        print("worker ready", flush=True)
        await stop.wait()
    print("worker stopped", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
