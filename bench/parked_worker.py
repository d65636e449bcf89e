"""A worker in a process of its own, so its memory can be read alone.

``python -m bench.parked_worker ADDRESS TASK_QUEUE engine|baseline`` prints ``ready`` once it polls
and runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from bench.stack import baseline_worker, connect, engine_worker
from engine.heap import freeze_startup_heap


async def serve(address: str, queue: str, side: str) -> None:
    """Run the chosen side's worker until SIGTERM or SIGINT."""
    client = await connect(address)
    worker = engine_worker(client, queue) if side == "engine" else baseline_worker(client, queue)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        freeze_startup_heap()  # both sides, as `fireline worker` does once it serves
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[3] not in ("engine", "baseline"):
        sys.exit("usage: python -m bench.parked_worker ADDRESS TASK_QUEUE engine|baseline")
    asyncio.run(serve(*sys.argv[1:4]))
    sys.stdout.flush()
    os._exit(0)  # skip finalizers: the SDK's native threads can crash a normal shutdown
