"""Temporal client wiring: start, join, query, decide and cancel runs."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, Interceptor, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from engine.classification.tags import Classification
from engine.codec import data_converter
from engine.errors import ApprovalRefused, RunNotFound
from engine.metrics import make_runtime
from engine.metrics_interceptor import FirelineInterceptor
from engine.observability import setup_tracing
from engine.plan.approvals import already_decided
from engine.plan.models import Plan
from engine.plan.state import Decision, JoinedAlert, RunState, StepRecord
from engine.privacy import Pseudonymizer
from engine.settings import Settings, TemporalConnectArgs
from engine.templating import TemplateEngine
from engine.workflows.types import (
    CONTINUE_AFTER_EVENTS,
    DECIDE_UPDATE,
    DECISION_ELSEWHERE,
    JOIN_SIGNAL,
    PENDING_QUERY,
    STATUS_QUERY,
    WORKFLOW_NAME,
    DecisionRequest,
    RunInput,
)


async def connect(
    args: TemporalConnectArgs,
    converter: DataConverter | None = None,
    *,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """Connect with fireline's data converter (pydantic JSON, sealed when a codec is configured)."""
    tls: bool | TLSConfig = args.tls
    if args.tls and (args.server_root_ca_cert or args.client_cert or args.server_name):
        tls = TLSConfig(
            server_root_ca_cert=args.server_root_ca_cert,
            client_cert=args.client_cert,
            client_private_key=args.client_private_key,
            domain=args.server_name,
        )
    return await Client.connect(
        args.target_host,
        namespace=args.namespace,
        tls=tls,
        api_key=args.api_key,
        data_converter=converter or pydantic_data_converter,
        runtime=runtime,
        interceptors=interceptors,
    )


async def connect_configured(settings: Settings, args: TemporalConnectArgs) -> Client:
    """Connect as ``settings`` say: codec keys included."""
    protection = settings.data_protection
    return await connect(
        args,
        data_converter(protection.codec_keys_file, protection.codec_active_key),
        runtime=process_runtime(settings),
        interceptors=[*setup_tracing(settings), FirelineInterceptor()],
    )


_RUNTIME: Runtime | None = None


def process_runtime(settings: Settings) -> Runtime:
    """One Temporal runtime per process (it owns the SDK's metrics endpoint)."""
    global _RUNTIME
    if _RUNTIME is None:
        _RUNTIME = make_runtime(settings)
    return _RUNTIME


class StartedRun(BaseModel):
    """The outcome of asking for a run: a new run or the open one this alert joined."""

    run_id: str
    temporal_run_id: str | None = None
    joined: bool


def run_id_for(plan: Plan, dedup_value: str) -> str:
    """Workflow id: one open run per playbook and dedup key."""
    digest = hashlib.sha256(dedup_value.encode()).hexdigest()[:16]
    return f"{plan.name}-{digest}"


_ENGINE = TemplateEngine()


class RunOptions(BaseModel):
    """How a deployment starts runs: personal data pseudonymized, integrations on their own queues."""

    model_config = {"arbitrary_types_allowed": True}

    pseudonymizer: Pseudonymizer | None = None
    action_queues: dict[str, str] = {}
    continue_after_events: int = CONTINUE_AFTER_EVENTS


def run_options(settings: Settings) -> RunOptions:
    """The run options ``settings`` ask for (every start path uses them)."""
    protection = settings.data_protection
    return RunOptions(
        pseudonymizer=Pseudonymizer.from_config(protection.personal_fields, protection.pseudonym_key_env),
        action_queues=dict(settings.temporal.action_queues),
        continue_after_events=settings.temporal.continue_as_new_after_events,
    )


class PreparedRun(BaseModel):
    """An alert made ready to start a run: personal data pseudonymized, its run id rendered once."""

    run_id: str
    alert: dict[str, Any]
    inputs: dict[str, Any]


def prepare_run(
    plan: Plan,
    alert: Mapping[str, Any],
    inputs: Mapping[str, Any],
    *,
    engine: TemplateEngine | None = None,
    pseudonymizer: Pseudonymizer | None = None,
) -> PreparedRun:
    """Pseudonymize, then render the dedup key: the one place a run id is computed.

    The key is rendered on the pseudonymized alert, so the workflow id never derives from raw personal
    data and the receiver, the CLI and a preview agree on it.

    Raises:
        TemplateError: the dedup key does not render for this alert.
    """
    if pseudonymizer is not None:
        alert, inputs = pseudonymizer.scrub(alert, inputs)
    dedup_value = str((engine or _ENGINE).render(plan.dedup_key, {"alert": dict(alert)}))
    return PreparedRun(run_id=run_id_for(plan, dedup_value), alert=dict(alert), inputs=dict(inputs))


async def start_run(
    client: Client,
    plan: Plan,
    alert: Mapping[str, Any],
    inputs: Mapping[str, Any],
    *,
    task_queue: str,
    engine: TemplateEngine | None = None,
    pseudonymizer: Pseudonymizer | None = None,
    options: RunOptions | None = None,
    prepared: PreparedRun | None = None,
) -> StartedRun:
    """Start the playbook for this alert, or join the open run of the same incident.

    Personal data named by ``pseudonymizer`` is replaced before anything reaches Temporal. A caller
    that already ran :func:`prepare_run` passes its result as ``prepared`` (``alert`` and ``inputs``
    are then ignored).
    """
    if prepared is None:
        prepared = prepare_run(
            plan,
            alert,
            inputs,
            engine=engine,
            pseudonymizer=pseudonymizer or (options.pseudonymizer if options else None),
        )
    scrubbed = prepared.alert
    joined = JoinedAlert(
        id=str(scrubbed.get("id", "")),
        title=str(scrubbed.get("title", ""))[:200],
        received_at=datetime.now(UTC),
    )
    # The same ids the run computes, so the incident list can filter without querying every run.
    classification = Classification.for_run(plan.classification, scrubbed)
    for _ in range(_START_ATTEMPTS):
        try:
            handle = await client.start_workflow(
                WORKFLOW_NAME,
                RunInput(
                    plan=plan,
                    alert=scrubbed,
                    inputs=prepared.inputs,
                    action_queues=options.action_queues if options else {},
                    continue_after_events=options.continue_after_events if options else CONTINUE_AFTER_EVENTS,
                ),
                id=prepared.run_id,
                task_queue=task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                # An open run of this incident makes the server refuse: the alert then joins it.
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                memo={
                    "playbook": plan.name,
                    "status": "running",
                    "title": joined.title,
                    "severity": str(scrubbed.get("severity", "")),
                    "atlas": classification.atlas,
                    "owasp_llm": classification.owasp_llm,
                },
                static_summary=f"{plan.name} v{plan.version}: {joined.title}"[:200],
            )
        except WorkflowAlreadyStartedError:
            pass
        else:
            return StartedRun(run_id=prepared.run_id, temporal_run_id=handle.result_run_id, joined=False)
        try:
            await client.get_workflow_handle(prepared.run_id).signal(JOIN_SIGNAL, joined)
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
            continue  # the open run closed between the two calls: start afresh for this alert
        return StartedRun(run_id=prepared.run_id, joined=True)
    raise RunNotFound(
        f"run {prepared.run_id!r} kept closing and reopening while this alert tried to start or join it"
    )


#: Start refused (a run is open), then the join finds it closed: each round is a real race, so a
#: few are plenty; more means something else keeps starting and closing the same run id.
_START_ATTEMPTS = 5


async def status(client: Client, run_id: str) -> RunState:
    """The live timeline of a run (open or closed)."""
    state: RunState = await _query(client, run_id, STATUS_QUERY, RunState)
    return state


async def pending_approvals(client: Client, run_id: str) -> list[StepRecord]:
    """The run's approvals still waiting for a decision: a small answer for pollers.

    Use it rather than :func:`status` to wait until a run is parked: the worker keeps each run's
    last query answer until the run's next activation, and a status answer carries every output.
    """
    pending: list[StepRecord] = await _query(client, run_id, PENDING_QUERY, list[StepRecord])
    return pending


async def _query(client: Client, run_id: str, name: str, result_type: Any) -> Any:
    try:
        return await client.get_workflow_handle(run_id).query(name, result_type=result_type)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise RunNotFound(f"no run {run_id!r}") from None
        raise


#: Children of children of...: deeper than any playbook nests (the compiler refuses cycles).
MAX_NESTING = 16


async def decide(
    client: Client,
    run_id: str,
    step: str,
    decision: Decision,
    by: str,
    *,
    groups: list[str] | None = None,
    reason: str = "",
    via: str = "cli",
    edits: dict[str, Any] | None = None,
) -> StepRecord:
    """Send a decision through the ``decide`` Update; refusals raise :class:`ApprovalRefused`.

    ``edits`` are new values for editable arguments of the step the approval guards; the run's
    validator checks them against that action's schema. Of two decisions on one approval the first
    wins; the second is refused with who decided and when.

    ``step`` may be a qualified path (``breach.authority_approval``): a run's validator refuses a
    step of a child run it started, naming that run, and the decision goes on there.
    """
    request = DecisionRequest(
        step=step,
        decision=decision,
        by=by,
        groups=groups or [],
        reason=reason,
        via=via,
        edits=edits or {},
    )
    # One round trip for a step of this run; a run refuses a child's step naming the child.
    for _ in range(MAX_NESTING):
        try:
            return await _send_decision(client, run_id, request)
        except _DecisionElsewhere as hop:
            run_id, request = hop.run_id, request.model_copy(update={"step": hop.path})
    raise ApprovalRefused(f"{step}: nested more than {MAX_NESTING} child runs deep")


class _DecisionElsewhere(Exception):
    def __init__(self, run_id: str, path: str) -> None:
        self.run_id, self.path = run_id, path


async def _send_decision(client: Client, run_id: str, request: DecisionRequest) -> StepRecord:
    handle = client.get_workflow_handle(run_id)
    try:
        record: StepRecord = await handle.execute_update(DECIDE_UPDATE, request, result_type=StepRecord)
        return record
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == DECISION_ELSEWHERE:
            child, path = cause.details
            raise _DecisionElsewhere(str(child), str(path)) from None
        raise ApprovalRefused(getattr(cause, "message", str(cause))) from None
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise await _closed_run_refusal(client, run_id, request.step) from None
        raise


async def _closed_run_refusal(client: Client, run_id: str, step: str) -> Exception:
    """Why a decision on a run that is no longer open cannot be taken."""
    try:
        state = await status(client, run_id)
    except RunNotFound as missing:
        return missing
    record = state.step(step)
    if record and record.approval and record.approval.decision is not None:
        return ApprovalRefused(f"{already_decided(step, record)}; run {run_id} has {state.status.value}")
    return ApprovalRefused(f"run {run_id} has already {state.status.value}")


async def cancel(client: Client, run_id: str) -> None:
    """Ask a run to stop; steps in flight are marked cancelled."""
    try:
        await client.get_workflow_handle(run_id).cancel()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise RunNotFound(f"no open run {run_id!r}") from None
        raise


class RunSummary(BaseModel):
    """One line of ``fireline runs``."""

    run_id: str
    playbook: str
    status: str
    title: str
    severity: str
    started_at: datetime | None
    closed_at: datetime | None
    atlas: list[str] = []
    owasp_llm: list[str] = []


def _ids(value: Any) -> list[str]:
    # Memos are written by fireline, but a foreign or old one must not break the listing.
    return [str(v)[:40] for v in value[:50]] if isinstance(value, list) else []


async def list_runs(client: Client, *, limit: int = 50, open_only: bool = False) -> list[RunSummary]:
    """Open and recent runs, newest first."""
    query = f'WorkflowType = "{WORKFLOW_NAME}"'
    if open_only:
        query += ' AND ExecutionStatus = "Running"'
    out: list[RunSummary] = []
    async for wf in client.list_workflows(query, limit=limit):
        try:
            memo = await wf.memo()
        except Exception:  # sealed with a key this client lacks, or written by another tool
            memo = {"status": "", "title": "(memo unreadable: sealed or foreign)"}
        status_text = str(memo.get("status", ""))
        if wf.status is not WorkflowExecutionStatus.RUNNING and wf.status is not None:
            temporal_status = wf.status.name.lower()
            if status_text in ("", "running") or temporal_status in ("terminated", "timed_out", "canceled"):
                status_text = temporal_status
        out.append(
            RunSummary(
                run_id=wf.id,
                playbook=str(memo.get("playbook", "")),
                status=status_text or "running",
                title=str(memo.get("title", "")),
                severity=str(memo.get("severity", "")),
                started_at=wf.start_time,
                closed_at=wf.close_time,
                atlas=_ids(memo.get("atlas")),
                owasp_llm=_ids(memo.get("owasp_llm")),
            )
        )
    return out
