"""A living run must not keep its first activation allocated (DetachedStartRunner)."""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.converter import DataConverter
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner
from temporalio.worker._workflow import _WorkflowWorker

from engine.detached_start import DetachedStartRunner

RUNS = 300
INPUT_BYTES = 10_000


class _Capture(WorkflowRunner):
    """Keeps the details each run was created with, as a live instance would."""

    def __init__(self) -> None:
        self.kept: list[WorkflowInstanceDetails] = []

    def prepare_workflow(self, defn: Any) -> None:
        pass

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        self.kept.append(det)
        return SimpleNamespace()  # type: ignore[return-value]

    def set_worker_level_failure_exception_types(self, types: Sequence[type[BaseException]]) -> None:
        pass


def _first_activation(n: int) -> bytes:
    act = WorkflowActivation(run_id=f"run-{n}")
    init = act.jobs.add().initialize_workflow
    init.workflow_type = "PlaybookRun"
    init.workflow_id = f"wf-{n}"
    init.arguments.add().data = b"a" * INPUT_BYTES
    init.memo.fields["title"].data = b'"Injection burst"'
    init.headers["trace"].data = b'"t-1"'
    init.start_time.GetCurrentTime()
    init.continued_failure.message = "previous run failed"
    return act.SerializeToString()


def _create(runner: WorkflowRunner, raw: bytes) -> None:
    """The SDK's own path from a first activation to a workflow instance."""
    worker = SimpleNamespace(
        _workflows={"PlaybookRun": SimpleNamespace(sandboxed=True)},
        _dynamic_workflow=None,
        _data_converter=DataConverter.default,
        _interceptor_classes=[],
        _extern_functions={},
        _disable_eager_activity_execution=False,
        _workflow_failure_exception_types=[],
        _patch_activation_callback=None,
        _default_workflow_logic_flags=set(),
        _namespace="default",
        _task_queue="q",
        _workflow_runner=runner,
        _unsandboxed_workflow_runner=runner,
    )
    act = WorkflowActivation.FromString(raw)
    _WorkflowWorker._create_workflow_instance(worker, act, act.jobs[0].initialize_workflow)  # type: ignore[arg-type]


def _heap_in_use() -> int:
    libc = ctypes.CDLL("libc.so.6")

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            )
        ]

    libc.mallinfo2.restype = MallInfo2
    return int(libc.mallinfo2().uordblks)


def _kib_kept_per_run(runner: WorkflowRunner) -> float:
    activations = [_first_activation(n) for n in range(RUNS)]
    gc.collect()
    before = _heap_in_use()
    for raw in activations:
        _create(runner, raw)
    gc.collect()
    return (_heap_in_use() - before) / RUNS / 1024


def test_a_living_run_no_longer_keeps_its_first_activation_allocated() -> None:
    sdk_default, detached = _Capture(), _Capture()
    undetached_kib = _kib_kept_per_run(sdk_default)
    detached_kib = _kib_kept_per_run(DetachedStartRunner(detached))
    # The SDK's own details keep the activation (its 10 KB input and the parsed copy of it) alive.
    assert undetached_kib > INPUT_BYTES / 1024
    assert detached_kib < 3, f"{detached_kib:.1f} KiB kept per run (the SDK's own: {undetached_kib:.1f})"
    assert len(detached.kept) == RUNS


def test_the_run_still_sees_its_memo_headers_and_previous_failure() -> None:
    capture = _Capture()
    _create(DetachedStartRunner(capture), _first_activation(7))
    det = capture.kept[0]
    assert det.info.workflow_id == "wf-7"
    assert det.info.raw_memo["title"].data == b'"Injection burst"'
    assert det.info.headers["trace"].data == b'"t-1"'
    assert det.last_failure is not None and det.last_failure.message == "previous run failed"
    assert len(det.last_completion_result.payloads) == 0


@pytest.mark.parametrize("method", ["prepare_workflow", "set_worker_level_failure_exception_types"])
def test_the_wrapped_runner_is_asked_as_before(method: str) -> None:
    seen: list[str] = []

    class _Recording(_Capture):
        def prepare_workflow(self, defn: Any) -> None:
            seen.append("prepare_workflow")

        def set_worker_level_failure_exception_types(self, types: Sequence[type[BaseException]]) -> None:
            seen.append("set_worker_level_failure_exception_types")

    runner = DetachedStartRunner(_Recording())
    getattr(runner, method)(object() if method == "prepare_workflow" else [ValueError])
    assert seen == [method]
