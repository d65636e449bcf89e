"""Resolve a run's inputs: defaults from the alert, overrides from the caller, types checked."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from engine.errors import Diagnostic, PlaybookInvalid, TemplateError
from engine.plan.models import InputPlan, Plan
from engine.spec.models import InputType
from engine.templating import TemplateEngine

_PY_TYPES: dict[InputType, tuple[type, ...]] = {
    InputType.STRING: (str,),
    InputType.INTEGER: (int,),
    InputType.NUMBER: (int, float),
    InputType.BOOLEAN: (bool,),
    InputType.OBJECT: (dict,),
    InputType.ARRAY: (list,),
}


def coerce_text(spec: InputPlan, text: str) -> Any:
    """Turn a ``--input k=v`` string into the input's declared type."""
    if spec.type is InputType.STRING:
        return text
    if spec.type is InputType.BOOLEAN and text.lower() in ("true", "false", "yes", "no", "1", "0"):
        return text.lower() in ("true", "yes", "1")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def resolve_inputs(
    plan: Plan, alert_view: Mapping[str, Any], given: Mapping[str, Any], engine: TemplateEngine | None = None
) -> dict[str, Any]:
    """Every declared input's value, or :class:`PlaybookInvalid` naming each bad one."""
    engine = engine or TemplateEngine()
    declared = {i.name: i for i in plan.inputs}
    problems: list[Diagnostic] = []
    for name in given:
        if name not in declared:
            problems.append(
                Diagnostic(message=f"unknown input {name!r}", path=f"inputs.{name}", file=plan.source_file)
            )
    values: dict[str, Any] = {}
    for spec in plan.inputs:
        path = f"inputs.{spec.name}"
        if spec.name in given:
            raw = given[spec.name]
            value = coerce_text(spec, raw) if isinstance(raw, str) else raw
        elif spec.default is not None:
            try:
                value = engine.render(spec.default, {"alert": alert_view})
            except TemplateError as exc:
                problems.append(
                    Diagnostic(message=f"default failed: {exc}", path=path, file=plan.source_file)
                )
                continue
        elif spec.required:
            problems.append(Diagnostic(message="required input not given", path=path, file=plan.source_file))
            continue
        else:
            values[spec.name] = None
            continue
        expected = _PY_TYPES[spec.type]
        if not isinstance(value, expected) or (
            spec.type is not InputType.BOOLEAN and isinstance(value, bool)
        ):
            problems.append(
                Diagnostic(
                    message=f"expected {spec.type.value}, got {type(value).__name__} {str(value)[:60]!r}",
                    path=path,
                    file=plan.source_file,
                )
            )
            continue
        if spec.enum is not None and value not in spec.enum:
            problems.append(
                Diagnostic(
                    message=f"{str(value)[:60]!r} is not one of {spec.enum}", path=path, file=plan.source_file
                )
            )
            continue
        values[spec.name] = value
    if problems:
        raise PlaybookInvalid(problems)
    return values
