"""Compile a validated playbook into a :class:`Plan`."""

from __future__ import annotations

from engine.errors import PlaybookInvalid
from engine.plan.edits import edit_schema
from engine.plan.models import ApprovalPlan, InputPlan, Plan, PlanStep, RetryPolicy, StepKind
from engine.registry import REGISTRY, ActionRegistry
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


def compile_step(step: AnyStep, registry: ActionRegistry = REGISTRY) -> PlanStep:
    """Compile one spec step (recursively); ``registry`` gives guarded actions' schemas."""
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
            guards=spec.guards,
            editable=list(spec.editable),
        )
        return PlanStep(kind=StepKind.APPROVAL, approval=approval, **common)
    if isinstance(step, ForEachStep):
        children = _with_edit_schemas([compile_step(s, registry) for s in step.steps], registry)
        return PlanStep(
            kind=StepKind.FOR_EACH,
            items=step.for_each,
            loop_var=step.as_,
            max_parallel=step.max_parallel,
            children=children,
            **common,
        )
    if isinstance(step, ParallelStep):
        return PlanStep(
            kind=StepKind.PARALLEL,
            children=_with_edit_schemas([compile_step(s, registry) for s in step.parallel], registry),
            **common,
        )
    if isinstance(step, WaitStep):
        if isinstance(step.wait, str):
            return PlanStep(kind=StepKind.WAIT, wait_s=parse_duration(step.wait), **common)
        return PlanStep(kind=StepKind.WAIT, wait_until=step.wait.until, **common)
    if isinstance(step, PlaybookStep):
        return PlanStep(kind=StepKind.PLAYBOOK, playbook=step.playbook, args=step.with_, **common)
    raise TypeError(f"unknown step type {type(step).__name__}")


def compile_plan(
    entry: LoadedPlaybook, catalog: Catalog | None = None, registry: ActionRegistry = REGISTRY
) -> Plan:
    """Compile a valid playbook; child playbooks are compiled into ``subplans``.

    Raises:
        PlaybookInvalid: when the playbook (or a child) has diagnostics.
    """
    plan = _compile_one(entry, registry)
    pending = _child_names(plan.steps + plan.on_failure)
    while pending:
        name = pending.pop()
        if name in plan.subplans:
            continue
        if catalog is None:
            raise PlaybookInvalid(entry.diagnostics or [])
        child = _compile_one(catalog.get(name), registry)
        plan.subplans[name] = child
        pending |= _child_names(child.steps + child.on_failure)
    return plan


def _compile_one(entry: LoadedPlaybook, registry: ActionRegistry) -> Plan:
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
        steps=_with_edit_schemas([compile_step(s, registry) for s in spec.steps], registry),
        on_failure=_with_edit_schemas([compile_step(s, registry) for s in spec.on_failure], registry),
        outputs=spec.outputs,
        dedup_key=dedup.key if dedup else "{{ alert.fingerprint }}",
        dedup_window_s=parse_duration(dedup.window) if dedup else 6 * 3600.0,
        classification={k: v for k, v in spec.metadata.classification.model_dump().items() if v},
    )


def _with_edit_schemas(block: list[PlanStep], registry: ActionRegistry) -> list[PlanStep]:
    """Give each approval with ``editable:`` the schema of those arguments of the step it guards."""
    actions = {s.id: s.action for s in block if s.kind is StepKind.ACTION}
    for step in block:
        approval = step.approval
        if approval is None or not approval.editable or approval.guards not in actions:
            continue
        definition = registry.find(actions[approval.guards] or "")
        if definition is not None:
            approval.edit_schema = edit_schema(definition.schema(), approval.editable)
    return block


def _child_names(steps: list[PlanStep]) -> set[str]:
    names: set[str] = set()
    for step in steps:
        if step.kind is StepKind.PLAYBOOK and step.playbook:
            names.add(step.playbook)
        names |= _child_names(step.children)
    return names
