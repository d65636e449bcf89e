"""The worker's workflow runner: the SDK's sandbox, unchanged, with less kept and fewer entries.

**Memory.** With protobuf's upb backend any sub-message, map or repeated field keeps the whole
arena of the message it came from. temporalio keeps such views for as long as a run lives: from the
``InitializeWorkflow`` job its ``last_completion_result`` (even when unset), the continued failure,
the memo and header payloads in ``workflow.Info`` and the start's header map; from every activation
its internal flags, until the next one. The arena of an activation holds all of it plus a copy of
each payload for every pass of the SDK's payload visitor, so a parked run kept its whole first
activation (~12 KiB for a playbook run's input) and its last one. This runner hands the sandbox
standalone copies: of the start details when it creates the instance, and of each activation (a
~1 µs copy, made after the visitor's passes) when the instance runs it; :class:`DetachedHeaders`
swaps the header map the SDK keeps for a copy.

**Entries into the sandbox.** For every payload sequence in every activation and completion (six
visitor passes) the SDK asks the run, inside the sandbox, for a serialization context and a store
context for the payload codec and external storage. A 5-step playbook run with its audit trail
asked 50 times, ~6 ms per run on the critical path. When the codec takes no context and there is no
external storage the answers cannot change a byte, so this runner gives them without entering.

**The audit trail.** After each activation the runner hands the run's new audit events (put into
:mod:`engine.workflows.audit_outbox` by the run) to the worker's
:class:`~engine.activities.audit_relay.AuditRelay`, with the activation and its completion, before
the SDK sends the completion: the relay decides from them when an event may be written.

The SDK's ``debug_mode`` widens the passthrough only of a bare ``SandboxedWorkflowRunner``; fireline's
workers do not use it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from google.protobuf.message import Message
from temporalio.api.common.v1 import Memo, Payload
from temporalio.bridge.proto.workflow_activation import InitializeWorkflow, WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import (
    DataConverter,
    SerializationContext,
    StorageDriverStoreContext,
    WithSerializationContext,
)
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowInterceptorClassInput,
    WorkflowRunner,
)
from temporalio.worker._command_aware_visitor import CommandInfo
from temporalio.workflow import Info, _Definition

from engine.activities.audit_relay import AuditRelay

_M = TypeVar("_M", bound=Message)


def standalone(message: _M) -> _M:
    """A deep copy of ``message`` in an arena of its own."""
    copy = type(message)()
    copy.CopyFrom(message)
    return copy


def standalone_payloads(payloads: Mapping[str, Payload]) -> dict[str, Payload]:
    """Copies of ``payloads`` that share one arena of their own (an arena per copy: ~1 KiB each)."""
    holder = Memo()
    for key, value in payloads.items():
        holder.fields[key].CopyFrom(value)
    return dict(holder.fields)  # each value keeps the holder's arena, and only that, alive


def detach(det: WorkflowInstanceDetails) -> WorkflowInstanceDetails:
    """``det`` with every protobuf message it holds copied out of the activation's arena.

    The copies all live in one small ``InitializeWorkflow`` of their own: each arena costs ~0.6 KiB
    even empty, and a parked run keeps these for as long as it lives.
    """
    kept = InitializeWorkflow()
    for key, value in det.info.headers.items():
        kept.headers[key].CopyFrom(value)
    for key, value in det.info.raw_memo.items():
        kept.memo.fields[key].CopyFrom(value)
    kept.last_completion_result.CopyFrom(det.last_completion_result)
    if det.last_failure is not None:
        kept.continued_failure.CopyFrom(det.last_failure)
    info = dataclasses.replace(det.info, headers=dict(kept.headers), raw_memo=dict(kept.memo.fields))
    return dataclasses.replace(
        det,
        info=info,
        last_completion_result=kept.last_completion_result,
        last_failure=None if det.last_failure is None else kept.continued_failure,
    )


def takes_no_context(converter: DataConverter) -> bool:
    """Whether the context the SDK asks a run for cannot change how ``converter`` seals payloads.

    The SDK only uses those answers for the payload codec and external storage.
    """
    codec = converter.payload_codec
    return converter.external_storage is None and not isinstance(codec, WithSerializationContext)


class LeanRunInstance(WorkflowInstance):
    """Wraps a run's instance: a standalone copy of each activation, contexts answered outside."""

    def __init__(
        self, inner: WorkflowInstance, *, context_free: bool, relay: AuditRelay | None = None
    ) -> None:
        self.inner = inner
        self.context_free = context_free
        self.relay = relay

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        """Runs the activation's jobs on a copy the instance may keep views into; relays its trail."""
        if self.relay is None:
            return self.inner.activate(standalone(act))
        started = time.monotonic()
        completion = self.inner.activate(standalone(act))
        self.relay.after_activation(act, completion, started)
        return completion

    def get_serialization_context(self, command_info: CommandInfo | None) -> SerializationContext | None:
        """None when the codec takes no context (the SDK then seals without one); else the run's."""
        if self.context_free:
            return None
        return self.inner.get_serialization_context(command_info)

    def get_external_store_context(self, command_info: CommandInfo | None) -> StorageDriverStoreContext:
        """No target without external storage (the SDK then ignores it); else the run's."""
        if self.context_free:
            return StorageDriverStoreContext()
        return self.inner.get_external_store_context(command_info)

    def get_info(self) -> Info:
        """The run's info."""
        return self.inner.get_info()

    def get_thread_id(self) -> int | None:
        """The thread the run is on (the SDK reads it to report a deadlocked run's frames)."""
        return self.inner.get_thread_id()


class LeanSandboxRunner(WorkflowRunner):
    """Wraps a runner (the sandbox): start details detached from the activation, lean instances.

    Args:
        inner: The runner that creates the instances (the SDK's sandbox).
        context_free: The worker's data converter :func:`takes_no_context`.
        relay: Stores the runs' audit trails (engine.activities.audit_relay); None keeps none.
    """

    def __init__(
        self, inner: WorkflowRunner, *, context_free: bool = False, relay: AuditRelay | None = None
    ) -> None:
        self.inner = inner
        self.context_free = context_free
        self.relay = relay

    def prepare_workflow(self, defn: _Definition) -> None:
        """Checks the workflow definition, as the wrapped runner does."""
        self.inner.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        """Creates the run's instance from detached details."""
        if self.relay is not None:
            self.relay.opened(det.info.run_id)
        instance = self.inner.create_instance(detach(det))
        return LeanRunInstance(instance, context_free=self.context_free, relay=self.relay)

    def set_worker_level_failure_exception_types(self, types: Sequence[type[BaseException]]) -> None:
        """Passes the worker's failure exception types on to the wrapped runner."""
        self.inner.set_worker_level_failure_exception_types(types)


class _DetachedHeadersInbound(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        # The SDK keeps this very input for the run's life; its header map is a view into the start.
        input.headers = standalone_payloads(input.headers)
        return await self.next.execute_workflow(input)


class DetachedHeaders(Interceptor):
    """Gives each run's start headers a copy of their own, so its first activation can go.

    The runner above cannot reach them: the SDK takes them from the activation while it runs it.
    """

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        """The inbound interceptor that detaches the start's headers."""
        return _DetachedHeadersInbound
