"""The lean runner: a living run keeps no activation it does not need, and is not entered for contexts."""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import gc
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    PayloadCodec,
    StorageDriverStoreContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from temporalio.worker import (
    ExecuteWorkflowInput,
    WorkflowInboundInterceptor,
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowInterceptorClassInput,
    WorkflowRunner,
)
from temporalio.worker._workflow import _WorkflowWorker

from engine.codec import AesGcmCodec
from engine.lean_runner import DetachedHeaders, LeanRunInstance, LeanSandboxRunner, takes_no_context
from engine.worker import workflow_runner

RUNS = 300
SMALL_INPUT, LARGE_INPUT = 2_000, 32_000  # bytes of run input


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


def _first_activation(n: int, input_bytes: int = SMALL_INPUT) -> bytes:
    act = WorkflowActivation(run_id=f"run-{n}")
    init = act.jobs.add().initialize_workflow
    init.workflow_type = "PlaybookRun"
    init.workflow_id = f"wf-{n}"
    init.arguments.add().data = b"a" * input_bytes
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


def _kib_kept_per_run(runner: WorkflowRunner, input_bytes: int) -> float:
    activations = [_first_activation(n, input_bytes) for n in range(RUNS)]
    gc.collect()
    before = _heap_in_use()
    for raw in activations:
        _create(runner, raw)
    gc.collect()
    return (_heap_in_use() - before) / RUNS / 1024


def test_a_living_run_no_longer_keeps_its_first_activation_allocated() -> None:
    detached = _Capture()
    undetached = [_kib_kept_per_run(_Capture(), size) for size in (SMALL_INPUT, LARGE_INPUT)]
    kept = [_kib_kept_per_run(LeanSandboxRunner(detached), size) for size in (SMALL_INPUT, LARGE_INPUT)]
    # The SDK's own details keep the whole activation, so what a run keeps grows with its input.
    assert undetached[1] - undetached[0] > (LARGE_INPUT - SMALL_INPUT) / 1024 * 0.9
    assert kept[1] - kept[0] < 1, f"kept {kept} KiB per run for the two inputs (the SDK's own: {undetached})"
    assert len(detached.kept) == 2 * RUNS


def test_the_run_still_sees_its_memo_headers_and_previous_failure() -> None:
    capture = _Capture()
    _create(LeanSandboxRunner(capture), _first_activation(7))
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

    runner = LeanSandboxRunner(_Recording())
    getattr(runner, method)(object() if method == "prepare_workflow" else [ValueError])
    assert seen == [method]


class _Innermost(WorkflowInboundInterceptor):
    def __init__(self) -> None:
        self.seen: list[dict[str, bytes]] = []

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        self.seen.append({key: value.data for key, value in input.headers.items()})
        return "done"


def _start_inputs(detached: bool, input_bytes: int) -> tuple[list[ExecuteWorkflowInput], _Innermost, float]:
    """Start inputs as the SDK makes them (headers a view into the activation), after execute_workflow."""
    innermost = _Innermost()
    inbound_class = DetachedHeaders().workflow_interceptor_class(
        WorkflowInterceptorClassInput(unsafe_extern_functions={})
    )
    assert inbound_class is not None
    chain = inbound_class(innermost) if detached else innermost
    activations = [_first_activation(n, input_bytes) for n in range(RUNS)]
    kept: list[ExecuteWorkflowInput] = []
    gc.collect()
    before = _heap_in_use()

    async def start_all() -> None:
        for raw in activations:
            init = WorkflowActivation.FromString(raw).jobs[0].initialize_workflow
            start = ExecuteWorkflowInput(type=object, run_fn=object, args=[], headers=init.headers)  # type: ignore[arg-type]
            assert await chain.execute_workflow(start) == "done"
            kept.append(start)  # as the SDK keeps it for the run's life

    asyncio.run(start_all())
    gc.collect()
    return kept, innermost, (_heap_in_use() - before) / RUNS / 1024


def test_a_living_run_no_longer_keeps_its_start_for_the_headers() -> None:
    undetached = [_start_inputs(False, size)[2] for size in (SMALL_INPUT, LARGE_INPUT)]
    kept, innermost, small_kib = _start_inputs(True, SMALL_INPUT)
    large_kib = _start_inputs(True, LARGE_INPUT)[2]
    assert undetached[1] - undetached[0] > (LARGE_INPUT - SMALL_INPUT) / 1024 * 0.9
    assert large_kib - small_kib < 1, (
        f"kept {small_kib:.1f}/{large_kib:.1f} KiB per run (SDK's own: {undetached})"
    )
    # The workflow (and every interceptor after this one) still gets the headers it was started with.
    assert innermost.seen == [{"trace": b'"t-1"'}] * RUNS
    assert all(start.headers["trace"].data == b'"t-1"' for start in kept)


def test_each_activation_reaches_the_run_as_an_equal_copy_of_its_own() -> None:
    from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion

    received: list[WorkflowActivation] = []
    answer = WorkflowActivationCompletion(run_id="run-3")

    class _Run:
        def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
            received.append(act)
            return answer

    sent = WorkflowActivation.FromString(_first_activation(3))
    completion = LeanRunInstance(_Run(), context_free=False).activate(sent)  # type: ignore[arg-type]
    assert completion is answer
    assert received[0] == sent and received[0] is not sent  # the SDK's views then point into the copy


class _ContextAskedRun:
    """Answers context questions as a run inside the sandbox would, and counts them."""

    def __init__(self) -> None:
        self.asked = 0

    def get_serialization_context(self, command_info: Any) -> WorkflowSerializationContext:
        self.asked += 1
        return WorkflowSerializationContext(namespace="default", workflow_id="wf-1")

    def get_external_store_context(self, command_info: Any) -> StorageDriverStoreContext:
        self.asked += 1
        return StorageDriverStoreContext(target=None)


def test_a_worker_whose_codec_takes_no_context_answers_without_entering_the_run() -> None:
    run = _ContextAskedRun()
    lean = LeanRunInstance(run, context_free=True)  # type: ignore[arg-type]
    assert lean.get_serialization_context(None) is None
    assert lean.get_external_store_context(None).target is None
    assert run.asked == 0


def test_a_worker_whose_codec_takes_context_still_asks_the_run() -> None:
    run = _ContextAskedRun()
    lean = LeanRunInstance(run, context_free=False)  # type: ignore[arg-type]
    assert lean.get_serialization_context(None) == WorkflowSerializationContext(
        namespace="default", workflow_id="wf-1"
    )
    lean.get_external_store_context(None)
    assert run.asked == 2


class _ContextCodec(PayloadCodec, WithSerializationContext):
    """A codec that would seal differently per workflow (say, a key per tenant)."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


def test_only_a_converter_whose_codec_and_storage_take_no_context_is_answered_outside() -> None:
    sealed = dataclasses.replace(pydantic_data_converter, payload_codec=AesGcmCodec({"k1": bytes(32)}, "k1"))
    assert takes_no_context(pydantic_data_converter)
    assert takes_no_context(sealed)  # fireline's own codec
    assert not takes_no_context(dataclasses.replace(pydantic_data_converter, payload_codec=_ContextCodec()))
    assert workflow_runner(sealed).context_free  # type: ignore[attr-defined]
    assert not workflow_runner().context_free  # type: ignore[attr-defined]
