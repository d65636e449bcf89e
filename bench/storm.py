"""``python -m bench.storm``: only the alert storm of issue 6, at full size, on its own tuned server.

The whole bench measures it too; this runs it alone (a few minutes) and merges the figures into
``results/latest.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from typing import Any

from bench import stack
from bench.run import RESULTS, Sizes, _ingest


async def measure(sizes: Sizes) -> dict[str, Any]:
    """Start a tuned dev server and the engine's workers, then fire the storm."""
    eq, bq = f"bench-engine-{uuid.uuid4().hex[:6]}", f"bench-base-{uuid.uuid4().hex[:6]}"
    with stack.scratch_dir() as root, stack.dev_server(root, "tuned", tuned=True) as tuned:
        client = await stack.connect(tuned.address)
        async with stack.workers(client, eq, bq):
            return await _ingest(client, tuned, eq, bq, sizes)


def main() -> int:
    """Run, print, and merge into latest.json."""
    sizes = Sizes()
    found = asyncio.run(measure(sizes))
    found["ingest_load_avg_at_end"] = os.getloadavg()
    print(json.dumps(found, indent=2, default=str))
    path = RESULTS / "latest.json"
    merged = json.loads(path.read_text()) if path.exists() else {}
    merged.update(found)
    merged.setdefault("sizes", {}).update(
        ingest_alerts=sizes.ingest_alerts, ingest_fingerprints=sizes.ingest_fingerprints
    )
    path.write_text(json.dumps(merged, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
