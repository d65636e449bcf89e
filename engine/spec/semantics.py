"""Checks beyond the schema: step ids, actions, arguments, expressions and references."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import TypeAdapter, ValidationError

from engine.classification.tags import declared_problems
from engine.errors import Diagnostic, TemplateError
from engine.registry import ActionRegistry
from engine.spec.diagnose import did_you_mean
from engine.spec.models import STEP_BODIES, step_kind
from engine.spec.source import Path, SourceDocument
from engine.templating import is_template, references

ROOT_NAMES = ("alert", "inputs", "steps", "run")
RUN_FIELDS = ("id", "workflow_id", "playbook", "version", "sha256", "started_at")
FAILURE_FIELDS = ("step", "message", "type")
STEP_FIELDS = ("status", "output", "approved", "decided_by", "reason", "error", "attempts")
JINJA_GLOBALS = ("range", "dict", "namespace", "loop", "true", "false", "none", "True", "False", "None")


@dataclass
class Scope:
    """What an expression at some place in the playbook may name."""

    visible: set[str]
    later: set[str]
    loop_vars: tuple[str, ...] = ()
    with_failure: bool = False
    only_alert: bool = False

    def child(self, **changes: Any) -> Scope:
        copy = replace(self, visible=set(self.visible), later=set(self.later))
        return replace(copy, **changes)


@dataclass
class Checker:
    """Walks raw playbook data and collects diagnostics."""

    doc: SourceDocument
    registry: ActionRegistry
    diagnostics: list[Diagnostic] = field(default_factory=list)
    inputs: set[str] = field(default_factory=set)
    all_ids: set[str] = field(default_factory=set)

    def error(
        self, path: Path, message: str, hint: str = "", *, key: bool = False, code: str = "invalid"
    ) -> None:
        self.diagnostics.append(self.doc.diagnostic(path, message, hint, key=key, code=code))

    # -- entry -----------------------------------------------------------------------------------------
    def run(self) -> list[Diagnostic]:
        data = self.doc.data
        if not isinstance(data, dict):
            return self.diagnostics
        raw_inputs = data.get("inputs")
        self.inputs = set(raw_inputs) if isinstance(raw_inputs, dict) else set()
        steps = _as_list(data.get("steps"))
        failure_steps = _as_list(data.get("on_failure"))
        self._check_ids([("steps",), ("on_failure",)])
        self._check_classification(data.get("metadata"))
        top_ids = _ids_visible_after(steps)
        alert_scope = Scope(visible=set(), later=set(), only_alert=True)
        if isinstance(raw_inputs, dict):
            for name, spec in raw_inputs.items():
                if isinstance(spec, dict) and "default" in spec:
                    self.check_value(spec["default"], ("inputs", name, "default"), alert_scope)
        trigger = data.get("trigger")
        if isinstance(trigger, dict) and isinstance(trigger.get("dedup"), dict):
            self.check_value(trigger["dedup"].get("key"), ("trigger", "dedup", "key"), alert_scope)
        self.check_block(steps, ("steps",), Scope(visible=set(), later=set(top_ids)))
        self.check_block(
            failure_steps, ("on_failure",), Scope(visible=set(top_ids), later=set(), with_failure=True)
        )
        if isinstance(data.get("outputs"), dict):
            self.check_value(data["outputs"], ("outputs",), Scope(visible=set(top_ids), later=set()))
        return self.diagnostics

    def _check_classification(self, metadata: Any) -> None:
        raw = metadata.get("classification") if isinstance(metadata, dict) else None
        for below, message, hint in declared_problems(raw):
            self.error(("metadata", "classification", *below), message, hint, code="unknown-classification")

    # -- step ids -------------------------------------------------------------------------------------
    def _check_ids(self, roots: list[Path]) -> None:
        seen: dict[str, Path] = {}
        for root in roots:
            for path, step in _walk_steps(self.doc.data, root):
                sid = step.get("id")
                if not isinstance(sid, str):
                    continue
                self.all_ids.add(sid)
                if sid in seen:
                    first = self.doc.position((*seen[sid], "id"))
                    self.error(
                        (*path, "id"),
                        f"duplicate step id {sid!r}",
                        f"first used at line {first[0]}; step ids are unique in a playbook",
                        code="duplicate-id",
                    )
                else:
                    seen[sid] = path

    # -- steps ----------------------------------------------------------------------------------------
    def check_block(self, steps: list[Any], path: Path, scope: Scope, *, parallel: bool = False) -> None:
        start_visible = set(scope.visible)
        for index, step in enumerate(steps):
            if not isinstance(step, dict):
                continue
            step_path = (*path, index)
            here = scope.child(visible=set(start_visible) if parallel else set(scope.visible))
            self.check_step(step, step_path, here)
            if not parallel:
                scope.visible |= _ids_of(step)
        if parallel:
            scope.visible = start_visible

    def check_step(self, step: dict[str, Any], path: Path, scope: Scope) -> None:
        if "if" in step:
            self.check_value(step["if"], (*path, "if"), scope, bare=True)
        kind = step_kind(step)
        if kind == "uses":
            self.check_action(step, path, scope)
        elif kind == "approval" and isinstance(step["approval"], dict):
            approval = step["approval"]
            for key in ("title", "details", "deadline"):
                self.check_value(approval.get(key), (*path, "approval", key), scope)
            if "deadline" in approval and "timeout" in approval:
                self.error(
                    (*path, "approval", "deadline"),
                    "an approval has either a timeout or a deadline, not both",
                    "keep deadline for a clock that started before the run (e.g. 72 h from awareness)",
                )
            if approval.get("remind_before") and "deadline" not in approval and "timeout" not in approval:
                self.error(
                    (*path, "approval", "remind_before"),
                    "reminders need a deadline or an explicit timeout to count back from",
                )
            if approval.get("on_timeout") == "escalate" and not approval.get("escalate_to"):
                self.error(
                    (*path, "approval", "on_timeout"),
                    "on_timeout is escalate but escalate_to is empty",
                    "list who to escalate to, e.g. escalate_to: [group:security-leads]",
                )
            self.check_editable(approval, path)
        elif kind == "wait":
            wait = step["wait"]
            if isinstance(wait, dict):
                self.check_value(wait.get("until"), (*path, "wait", "until"), scope)
        elif kind == "playbook":
            self.check_value(step.get("with"), (*path, "with"), scope)
        elif kind == "for_each":
            self.check_for_each(step, path, scope)
        elif kind == "parallel":
            self.check_block(_as_list(step["parallel"]), (*path, "parallel"), scope, parallel=True)

    def check_for_each(self, step: dict[str, Any], path: Path, scope: Scope) -> None:
        self.check_value(step["for_each"], (*path, "for_each"), scope)
        var = step.get("as", "item")
        if isinstance(var, str) and (var in ROOT_NAMES or var in scope.loop_vars or var == "failure"):
            self.error(
                (*path, "as"),
                f"loop variable {var!r} shadows a name already in scope",
                "pick another name, e.g. " + f"{var}_item",
                code="shadowing",
            )
        nested = _as_list(step.get("steps"))
        inner = scope.child(
            loop_vars=(*scope.loop_vars, str(var)), later=scope.later | _ids_visible_after(nested)
        )
        self.check_block(nested, (*path, "steps"), inner)

    def check_action(self, step: dict[str, Any], path: Path, scope: Scope) -> None:
        name = step.get("uses")
        args = step.get("with", {})
        self.check_value(args, (*path, "with"), scope)
        if not isinstance(name, str):
            return
        definition = self.registry.find(name)
        if definition is None:
            self.error(
                (*path, "uses"),
                f"unknown action {name!r}",
                did_you_mean(name, self.registry.names()) or _load_hint(self.registry, name),
                code="unknown-action",
            )
            return
        if not isinstance(args, dict):
            return
        model = definition.params_model
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        for key in args:
            if key not in fields and model.model_config.get("extra") != "allow":
                self.error(
                    (*path, "with", key),
                    f"{name} has no parameter {key!r}",
                    did_you_mean(str(key), list(fields)) or "parameters: " + ", ".join(fields),
                    key=True,
                    code="unknown-parameter",
                )
        for key, info in fields.items():
            if info.is_required() and key not in args:
                self.error((*path, "with"), f"{name} needs parameter {key!r}", code="missing-parameter")
            elif key in args and info.annotation is not None and not _has_template(args[key]):
                try:
                    _adapter(info.annotation).validate_python(args[key])
                except ValidationError as exc:
                    reason = exc.errors()[0]["msg"]
                    self.error((*path, "with", key), f"{key}: {reason}", code="bad-argument")
                except Exception:
                    continue

    def check_editable(self, approval: dict[str, Any], path: Path) -> None:
        """``guards`` names a later action step of the same list; ``editable`` names its parameters."""
        guards, editable = approval.get("guards"), approval.get("editable") or []
        here = (*path, "approval")
        if editable and guards is None:
            self.error((*here, "editable"), "editable arguments need guards: <step id>", code="editable")
        if not isinstance(guards, str):
            return
        block, index = path[:-1], path[-1]
        siblings = _as_list(_at(self.doc.data, block)) if isinstance(index, int) else []
        start = index + 1 if isinstance(index, int) else 0
        later = {s["id"]: s for s in siblings[start:] if isinstance(s, dict) and isinstance(s.get("id"), str)}
        target = later.get(guards)
        if target is None or not isinstance(target.get("uses"), str):
            ids = [str(i) for i, s in later.items() if isinstance(s.get("uses"), str)]
            self.error(
                (*here, "guards"),
                f"guards {guards!r} names no later action step in this list",
                did_you_mean(guards, ids) or "later action steps: " + (", ".join(ids) or "none"),
                code="unknown-guarded-step",
            )
            return
        definition = self.registry.find(target["uses"])
        if definition is None or not isinstance(editable, list):
            return
        model = definition.params_model
        fields = [f.alias or n for n, f in model.model_fields.items()]
        for i, name in enumerate(editable):
            if name not in fields:
                self.error(
                    (*here, "editable", i),
                    f"{target['uses']} has no parameter {name!r}",
                    did_you_mean(str(name), fields) or "parameters: " + ", ".join(fields),
                    code="unknown-parameter",
                )

    # -- expressions ----------------------------------------------------------------------------------
    def check_value(self, value: Any, path: Path, scope: Scope, *, bare: bool = False) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                self.check_value(item, (*path, key), scope)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.check_value(item, (*path, i), scope)
        elif isinstance(value, str) and (bare or is_template(value)):
            self.check_expression(value, path, scope, bare=bare)

    def check_expression(self, text: str, path: Path, scope: Scope, *, bare: bool) -> None:
        try:
            refs = references(text, bare=bare)
        except TemplateError as exc:
            self.error(
                path, f"expression syntax: {exc}", "expressions use Jinja syntax", code="expression-syntax"
            )
            return
        allowed = ["alert"] if scope.only_alert else [*ROOT_NAMES, *scope.loop_vars]
        if scope.with_failure:
            allowed.append("failure")
        for ref in refs:
            if ref.root in JINJA_GLOBALS:
                continue
            if ref.root not in allowed:
                self.error(
                    path,
                    f"undefined name {ref.root!r}",
                    did_you_mean(ref.root, allowed) or "names in scope: " + ", ".join(allowed),
                    code="undefined-name",
                )
            elif ref.root == "steps" and ref.path and isinstance(ref.path[0], str):
                self._check_step_ref(ref.path, path, scope)
            elif ref.root == "inputs" and ref.path and ref.path[0] not in self.inputs:
                hint = did_you_mean(str(ref.path[0]), sorted(self.inputs)) or "declare it under inputs:"
                self.error(path, f"unknown input {ref.path[0]!r}", hint, code="unknown-input")
            elif ref.root == "run" and ref.path and ref.path[0] not in RUN_FIELDS:
                self.error(path, f"run has no field {ref.path[0]!r}", "run has: " + ", ".join(RUN_FIELDS))
            elif ref.root == "failure" and ref.path and ref.path[0] not in FAILURE_FIELDS:
                self.error(
                    path, f"failure has no field {ref.path[0]!r}", "failure has: " + ", ".join(FAILURE_FIELDS)
                )

    def _check_step_ref(self, ref_path: tuple[str | int, ...], path: Path, scope: Scope) -> None:
        target = str(ref_path[0])
        if target in scope.visible:
            if len(ref_path) > 1 and ref_path[1] not in STEP_FIELDS:
                self.error(
                    path,
                    f"steps.{target} has no field {ref_path[1]!r}",
                    did_you_mean(str(ref_path[1]), STEP_FIELDS) or "fields: " + ", ".join(STEP_FIELDS),
                    code="unknown-step-field",
                )
        elif target in scope.later or target in self.all_ids:
            self.error(
                path,
                f"step {target!r} has not run yet here",
                "a step can only use steps that finish before it starts",
                code="step-runs-later",
            )
        else:
            hint = did_you_mean(target, sorted(scope.visible | scope.later | self.all_ids))
            self.error(path, f"unknown step {target!r}", hint or "no step has that id", code="unknown-step")


_ADAPTERS: dict[int, tuple[Any, TypeAdapter[Any]]] = {}


def _adapter(annotation: Any) -> TypeAdapter[Any]:
    """One TypeAdapter per parameter type: building them is what static argument checks cost."""
    cached = _ADAPTERS.get(id(annotation))
    if cached is None or cached[0] is not annotation:  # keeping the annotation makes the id unambiguous
        cached = (annotation, TypeAdapter(annotation))
        _ADAPTERS[id(annotation)] = cached
    return cached[1]


def _load_hint(registry: ActionRegistry, name: str) -> str:
    system = name.split(".")[0]
    if system in registry.load_errors:
        return f"integration {system!r} failed to load: {registry.load_errors[system]}"
    return "run `fireline actions` to list them"


def _at(data: Any, path: Path) -> Any:
    for part in path:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    return False


def _ids_of(step: dict[str, Any]) -> set[str]:
    """Ids a finished step makes visible: its own, and its parallel children's."""
    ids = {step["id"]} if isinstance(step.get("id"), str) else set()
    if step_kind(step) == "parallel":
        for child in _as_list(step.get("parallel")):
            if isinstance(child, dict):
                ids |= _ids_of(child)
    return ids


def _ids_visible_after(steps: list[Any]) -> set[str]:
    out: set[str] = set()
    for step in steps:
        if isinstance(step, dict):
            out |= _ids_of(step)
    return out


def _walk_steps(data: Any, path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    node = data
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    for index, step in enumerate(_as_list(node)):
        if not isinstance(step, dict):
            continue
        here = (*path, index)
        yield here, step
        for body in ("steps", "parallel"):
            if body in step and body in ("parallel", "steps") and (body != "steps" or "for_each" in step):
                yield from _walk_steps(data, (*here, body))


__all__ = ["STEP_BODIES", "Checker"]
