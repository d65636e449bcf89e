"""The receiver in a process of its own, spool on, so a test can ``kill -9`` it mid-storm.

``python -m tests.reliability.spool_receiver ADDRESS TASK_QUEUE HOME PORT`` serves the playbooks in
``HOME/pb`` on ``127.0.0.1:PORT``, prints ``ready URL`` and runs until SIGTERM. As the ``fireline``
commands do, it hands alerts over from a child process of its own.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sys
from pathlib import Path

from pydantic import SecretStr

from engine.ingest.config import ReceiverConfig
from engine.ingest.core import build_ingest
from engine.ingest.handover_process import HandoverSpec
from engine.ingest.server import serve_receiver
from engine.settings import ReceiverSettings, Settings, TemporalSettings
from engine.spec.catalog import load_catalog
from tests.fixtures.ingest import SECRET, plain_client


async def serve(address: str, queue: str, home: Path, port: int) -> None:
    """Serve until SIGTERM."""
    client = await plain_client(address)
    catalog = load_catalog([home / "pb"])
    settings = Settings(
        home=home,
        temporal=TemporalSettings(task_queue=queue),
        receiver=ReceiverSettings(listen=f"127.0.0.1:{port}"),
    )
    config = ReceiverConfig(
        webhook_secret=SecretStr(SECRET), rate_per_s=1e6, rate_burst=1_000_000, spool=True
    )
    handover = HandoverSpec(
        settings, functools.partial(plain_client, address), functools.partial(load_catalog, [home / "pb"])
    )
    ingest = build_ingest(settings, client, catalog, elasticsearch_url=None, config=config, handover=handover)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve_receiver(
        settings,
        client,
        catalog,
        stop,
        elasticsearch_url=None,
        ingest=ingest,
        on_listening=lambda url: print(f"ready {url}", flush=True),
    )


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])))
    sys.stdout.flush()
    os._exit(0)  # skip finalizers: the SDK's native threads can crash a normal shutdown
