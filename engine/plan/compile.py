"""Compile a validated playbook into a :class:`Plan`."""

from __future__ import annotations

from engine.errors import PlaybookInvalid
from engine.plan.models import ApprovalPlan, InputPlan, Plan, PlanStep, RetryPolicy, StepKind
from engine.spec.catalog import Catalog, LoadedPlaybook
from engine.spec.models import (
    ActionStep,
    AnyStep,
    ApprovalStep,
    ForEachStep,
    ParallelStep,
    PlaybookStep,
    Retry,
    WaitStep,
    parse_duration,
)

DEFAULT_TIMEOUT_S = 60.0


def _retry(spec: Retry | None) -> RetryPolicy:
    if spec is None:
        return RetryPolicy()
    return RetryPolicy(
        attempts=spec.attempts,
        initial_s=parse_duration(spec.initial),
        backoff=spec.backoff,
        max_s=parse_duration(spec.max),
    )


def compile_step(step: AnyStep) -> PlanStep:
    """Compile one spec step (recursively)."""
    common = {
        "id": step.id,
        "name": step.name or step.id,
        "condition": step.if_,
        "on_error": step.on_error,
        "timeout_s": parse_duration(step.timeout) if step.timeout else DEFAULT_TIMEOUT_S,
        "retry": _retry(step.retry),
    }
    if isinstance(step, ActionStep):
        return PlanStep(kind=StepKind.ACTION, action=step.uses, args=step.with_, **common)
    if isinstance(step, ApprovalStep):
        spec = step.approval
        approval = ApprovalPlan(
            title=spec.title,
            details=spec.details,
            approvers=list(spec.approvers),
            timeout_s=parse_duration(spec.timeout),
            deadline=spec.deadline,
            remind_before_s=sorted((parse_duration(r) for r in spec.remind_before), reverse=True),
            on_timeout=spec.on_timeout,
            escalate_to=list(spec.escalate_to),
        )
        return PlanStep(kind=StepKind.APPROVAL, approval=approval, **common)
    if isinstance(step, ForEachStep):
        children = [compile_step(s) for s in step.steps]
        return PlanStep(
            kind=StepKind.FOR_EACH,
            items=step.for_each,
            loop_var=step.as_,
            max_parallel=step.max_parallel,
            children=children,
            **common,
        )
    if isinstance(step, ParallelStep):
        return PlanStep(kind=StepKind.PARALLEL, children=[compile_step(s) for s in step.parallel], **common)
    if isinstance(step, WaitStep):
        if isinstance(step.wait, str):
            return PlanStep(kind=StepKind.WAIT, wait_s=parse_duration(step.wait), **common)
        return PlanStep(kind=StepKind.WAIT, wait_until=step.wait.until, **common)
    if isinstance(step, PlaybookStep):
        return PlanStep(kind=StepKind.PLAYBOOK, playbook=step.playbook, args=step.with_, **common)
    raise TypeError(f"unknown step type {type(step).__name__}")


def compile_plan(entry: LoadedPlaybook, catalog: Catalog | None = None) -> Plan:
    """Compile a valid playbook; child playbooks are compiled into ``subplans``.

    Raises:
        PlaybookInvalid: when the playbook (or a child) has diagnostics.
    """
    plan = _compile_one(entry)
    pending = _child_names(plan.steps + plan.on_failure)
    while pending:
        name = pending.pop()
        if name in plan.subplans:
            continue
        if catalog is None:
            raise PlaybookInvalid(entry.diagnostics or [])
        child = _compile_one(catalog.get(name))
        plan.subplans[name] = child
        pending |= _child_names(child.steps + child.on_failure)
    return plan


def _compile_one(entry: LoadedPlaybook) -> Plan:
    spec = entry.require()
    dedup = spec.trigger.dedup if spec.trigger else None
    return Plan(
        name=spec.metadata.name,
        version=spec.metadata.version,
        title=spec.metadata.title,
        sha256=entry.sha256,
        source_file=entry.file,
        inputs=[
            InputPlan(name=n, type=i.type, enum=i.enum, default=i.default, required=i.required)
            for n, i in spec.inputs.items()
        ],
        steps=[compile_step(s) for s in spec.steps],
        on_failure=[compile_step(s) for s in spec.on_failure],
        outputs=spec.outputs,
        dedup_key=dedup.key if dedup else "{{ alert.fingerprint }}",
        dedup_window_s=parse_duration(dedup.window) if dedup else 6 * 3600.0,
        classification={k: v for k, v in spec.metadata.classification.model_dump().items() if v},
    )


def _child_names(steps: list[PlanStep]) -> set[str]:
    names: set[str] = set()
    for step in steps:
        if step.kind is StepKind.PLAYBOOK and step.playbook:
            names.add(step.playbook)
        names |= _child_names(step.children)
    return names
