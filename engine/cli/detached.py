"""Body of `fireline up --detach`: the stack in a background process."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from engine.cli.stack_cmds import _run_stack, settings_for_up


def main() -> None:
    """Rebuild the parent's settings (from its file, options and environment) and run until SIGTERM."""
    args = json.loads(os.environ.pop("FIRELINE_UP_ARGS", "{}"))
    config = Path(args["config"]) if args.get("config") else None
    overrides = {**args.get("overrides", {}), "home": os.environ["FIRELINE_HOME"]}
    asyncio.run(_run_stack(settings_for_up(config, overrides), seed=True))


if __name__ == "__main__":
    main()
