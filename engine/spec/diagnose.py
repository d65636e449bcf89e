"""Turn pydantic's validation errors into located, hinted diagnostics."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.errors import Diagnostic
from engine.spec import models as m
from engine.spec.source import Path, SourceDocument

_STEP_LISTS = {"steps", "parallel", "on_failure"}
_STEP_MODELS: dict[str, type[BaseModel]] = {
    "uses": m.ActionStep,
    "approval": m.ApprovalStep,
    "for_each": m.ForEachStep,
    "parallel": m.ParallelStep,
    "wait": m.WaitStep,
    "playbook": m.PlaybookStep,
}
_CHILD_MODELS: dict[tuple[type[BaseModel], str], type[BaseModel]] = {
    (m.Playbook, "metadata"): m.Metadata,
    (m.Playbook, "trigger"): m.Trigger,
    (m.Trigger, "dedup"): m.Dedup,
    (m.ApprovalStep, "approval"): m.Approval,
    (m.WaitStep, "wait"): m.WaitUntil,
}
_ALL_STEP_KEYS = sorted(
    {a.alias or n for model in _STEP_MODELS.values() for n, a in model.model_fields.items()}
)


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """A ``did you mean 'x'?`` hint, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


def keys_of(model: type[BaseModel]) -> list[str]:
    """The keys a model accepts, by their YAML names."""
    return [field.alias or name for name, field in model.model_fields.items()]


def model_at(data: Any, path: Path) -> type[BaseModel] | None:
    """The model that validates the mapping at ``path`` of the raw playbook data."""
    model: type[BaseModel] | None = m.Playbook
    node = data
    i = 0
    while i < len(path) and model is not None:
        part = path[i]
        node = node.get(part) if isinstance(node, dict) else None
        if isinstance(part, str) and part in _STEP_LISTS and i + 1 < len(path):
            i += 1
            items = node if isinstance(node, list) else []
            index = path[i]
            node = items[index] if isinstance(index, int) and index < len(items) else None
            model = _STEP_MODELS.get(m.step_kind(node) or "")
        elif isinstance(part, str) and (model, part) in _CHILD_MODELS:
            model = _CHILD_MODELS[(model, part)]
        elif model is m.Playbook and part == "inputs" and i + 1 < len(path):
            i += 1
            node = node.get(path[i]) if isinstance(node, dict) else None
            model = m.InputSpec
        elif isinstance(part, str) and part == "retry":
            model = m.Retry
        elif model is m.Trigger and part in ("any", "all") and i + 1 < len(path):
            i += 1
            index = path[i]
            node = node[index] if isinstance(node, list) and isinstance(index, int) else None
            model = m.MatchRule
        else:
            return None
        i += 1
    return model


def _clean_loc(loc: tuple[str | int, ...], data: Any) -> tuple[Path, bool]:
    """Map pydantic's loc onto the document: drop union tags and branch labels.

    Returns the path and whether a union branch label was dropped.
    """
    out: list[str | int] = []
    node = data
    dropped = False
    for i, part in enumerate(loc):
        after_step_index = i >= 2 and isinstance(loc[i - 1], int) and loc[i - 2] in _STEP_LISTS
        if after_step_index and isinstance(part, str) and part == m.step_kind(node):
            continue  # the step union's tag
        if isinstance(node, dict) and part in node:  # noqa: SIM114 - separate so mypy narrows the index type
            node = node[part]
            out.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            out.append(part)
        elif isinstance(node, dict | list):
            out.append(part)  # a missing key or an extra one: keep it, it is the subject
            node = None
        else:
            dropped = True  # a union branch label under a scalar
    return tuple(out), dropped


_TYPE_ERRORS_FOR = {
    "model_type": (dict,),
    "dict_type": (dict,),
    "string_type": (str,),
    "list_type": (list,),
}


def _step_body_message(value: Any) -> tuple[str, str]:
    if not isinstance(value, dict):
        return "a step must be a mapping", "write `- id: name` followed by one body such as `uses:`"
    ident = value.get("id")
    # The id says which step at a glance (the location says where): it is what people search for.
    step = f"step {ident!r}" if isinstance(ident, str) and ident else "step"
    bodies = [b for b in m.STEP_BODIES if b in value]
    if len(bodies) > 1:
        return (
            f"{step} has {len(bodies)} bodies: {', '.join(bodies)}",
            "a step does one thing; split it into separate steps",
        )
    for key in value:
        hint = did_you_mean(str(key), m.STEP_BODIES)
        if hint and key not in _ALL_STEP_KEYS:
            return f"{step} has no body; unknown key {key!r}", hint
    return f"{step} has no body", "add one of: " + ", ".join(m.STEP_BODIES)


def _pattern_hint(path: Path, value: Any) -> tuple[str, str]:
    last = path[-1] if path else ""
    parent = path[-2] if len(path) > 1 else ""
    if last in ("timeout", "window", "initial", "max", "wait") and isinstance(value, str):
        return f"{value!r} is not a duration", "use a number and ms, s, m, h or d, e.g. 30s, 15m, 72h, 60d"
    if parent in ("approvers", "escalate_to"):
        return f"approver {value!r} is neither user: nor group:", "write user:<id> or group:<name>"
    if last in ("id", "as"):
        return (
            f"{value!r} is not a valid step id",
            "use lowercase letters, digits and _, starting with a letter",
        )
    if last in ("name", "playbook"):
        return f"{value!r} is not a valid playbook name", "use 3-63 characters of a-z, 0-9 and -"
    if last == "uses":
        return f"{value!r} is not an action name", "write <integration>.<action>, e.g. slack.post_message"
    return f"{value!r} has the wrong form", ""


def from_validation_error(doc: SourceDocument, exc: ValidationError) -> list[Diagnostic]:
    """One diagnostic per pydantic error, placed and hinted."""
    found: list[Diagnostic] = []
    errors = exc.errors()
    cleaned = [_clean_loc(tuple(err["loc"]), doc.data) for err in errors]
    per_path: dict[Path, int] = {}
    for path, _ in cleaned:
        per_path[path] = per_path.get(path, 0) + 1
    for err, (path, from_union) in zip(errors, cleaned, strict=True):
        kind = err["type"]
        value = err.get("input")
        wanted = _TYPE_ERRORS_FOR.get(kind)
        if from_union and wanted and per_path[path] > 1 and not isinstance(value, wanted):
            continue  # the other branch of the union explains this value better
        if kind == "extra_forbidden":
            parent = model_at(doc.data, path[:-1])
            choices = keys_of(parent) if parent else _ALL_STEP_KEYS
            found.append(
                doc.diagnostic(
                    path,
                    f"unknown key {path[-1]!r}",
                    did_you_mean(str(path[-1]), choices) or "allowed: " + ", ".join(choices),
                    key=True,
                    code="unknown-key",
                )
            )
        elif kind == "step_body":
            message, hint = _step_body_message(value)
            found.append(doc.diagnostic(path, message, hint, code="step-body"))
        elif kind in ("string_pattern_mismatch", "value_error"):
            message, hint = _pattern_hint(path, value)
            if kind == "value_error" and not hint:
                message = err["msg"].removeprefix("Value error, ")
            found.append(doc.diagnostic(path, message, hint, code="pattern"))
        elif kind == "missing":
            found.append(doc.diagnostic(path, f"missing required key {path[-1]!r}", code="missing"))
        else:
            expected = err.get("ctx", {}).get("expected", "")
            found.append(
                doc.diagnostic(path, err["msg"], f"expected {expected}" if expected else "", code=kind)
            )
    return found
