"""Profile the engine side of the overhead scenario with cProfile, in every thread of the worker.

Workflow activations run in the worker's thread pool, so a profiler on the event loop's thread
alone would miss the workflow code: each new thread installs its own profiler, and the stats are
merged once the worker (and with it its threads) has stopped. The timer is each thread's own CPU
time, so waiting (queues, epoll) costs nothing and the figures are CPU milliseconds per run.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

from temporalio.client import Client

_PROFILES: list[cProfile.Profile] = []


def _start_in_thread(frame: FrameType, event: str, arg: Any) -> None:
    """Installed with threading.setprofile: replaces itself by a fresh cProfile in each new thread."""
    sys.setprofile(None)
    profile = cProfile.Profile(time.thread_time)
    _PROFILES.append(profile)
    profile.enable()


def _row(func: tuple[str, int, str], stat: tuple[Any, ...], runs: int) -> dict[str, Any]:
    _cc, ncalls, tottime, cumtime, _callers = stat
    filename, line, name = func
    short = filename.split("site-packages/")[-1].split("/work/main/")[-1]
    return {
        "function": f"{short}:{line}({name})",
        "calls_per_run": round(ncalls / runs, 1),
        "own_ms_per_run": round(tottime * 1000 / runs, 3),
        "cum_ms_per_run": round(cumtime * 1000 / runs, 3),
    }


async def profile_engine(
    client: Client,
    make_worker: Callable[[Client, str], Any],
    run_once: Callable[[str], Awaitable[float]],
    runs: int,
    text_path: Any,
) -> dict[str, Any]:
    """Run ``runs`` engine runs on a fresh, profiled worker; top functions per run."""
    queue = f"bench-prof-{uuid.uuid4().hex[:8]}"
    _PROFILES.clear()
    main = cProfile.Profile(time.thread_time)
    threading.setprofile(_start_in_thread)
    try:
        async with make_worker(client, queue):
            main.enable()
            for _ in range(runs):
                await run_once(queue)
            main.disable()
    finally:
        threading.setprofile(None)
    stats = pstats.Stats(main)
    for profile in _PROFILES:
        stats.add(profile)
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(40)
    stats.sort_stats("cumulative").print_stats(r"/engine/", 40)
    # Who makes the workflow sandbox run code (each call is an exec with import hooks applied).
    stats.print_callers(r"_runner.py:\d+\(_run_code\)")
    stats.print_callers(r"_runner.py:\d+\(get_serialization_context\)")
    # Imports executed while a workflow runs go through the sandbox's import hook.
    stats.print_callers(r"_importer.py:\d+\(_import\)")
    text_path.write_text(out.getvalue())
    stats.dump_stats(text_path.with_suffix(".pstats"))  # for snakeviz or pstats
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    by_own = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:10]
    engine_only = [kv for kv in raw.items() if "/engine/" in kv[0][0]]
    by_cum = sorted(engine_only, key=lambda kv: kv[1][3], reverse=True)[:10]
    return {
        "profile_runs": runs,
        "profile_top_own_time": [_row(f, s, runs) for f, s in by_own],
        "profile_top_engine_cumulative": [_row(f, s, runs) for f, s in by_cum],
    }
