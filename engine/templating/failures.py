"""Turn whatever a template run raised into TemplateError / TemplateLimitExceeded.

Nothing else may leave the templating package: jinja2's exceptions, SecurityError,
TypeError, ZeroDivisionError, RecursionError... all become a TemplateError that
carries the expression text. Undefined names are described by their path
(``undefined: steps.nope``) when static analysis can find which one is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError

from engine.errors import TemplateError, TemplateLimitExceeded
from engine.templating.analysis import Reference, references

#: Messages are cut to this length: they can quote values, and values can be large.
MAX_MESSAGE_CHARS = 500


def _missing_part(reference: Reference, context: Mapping[str, Any]) -> str | None:
    """The dotted prefix of ``reference`` that is absent from ``context``, if it can be told statically."""
    if reference.root not in context:
        return reference.root
    value: Any = context[reference.root]
    for index, part in enumerate(reference.path):
        if isinstance(value, Mapping):
            if part not in value:
                return Reference(reference.root, reference.path[: index + 1]).dotted()
            value = value[part]
        elif isinstance(value, Sequence) and not isinstance(value, str) and isinstance(part, int):
            if not -len(value) <= part < len(value):
                return Reference(reference.root, reference.path[: index + 1]).dotted()
            value = value[part]
        else:
            # Attributes of other objects: we cannot tell without running code.
            return None
    return None


def describe_undefined(expression: str, bare: bool, context: Mapping[str, Any]) -> str | None:
    """``steps.nope`` for the first statically visible reference that the context lacks."""
    try:
        found = references(expression, bare=bare)
    except TemplateError:
        return None
    for reference in found:
        if not reference.guarded:
            missing = _missing_part(reference, context)
            if missing is not None:
                return missing
    return None


def must_propagate(exc: BaseException) -> bool:
    """True for the workflow runtime's own errors (e.g. Temporal's sandbox refusing a restricted call).

    They report a bug in how the engine is run, not in a template, and must fail the workflow
    task as they are; temporalio is recognised by module name, never imported here.
    """
    return any(cls.__module__.split(".")[0] == "temporalio" for cls in type(exc).__mro__)


def _cut(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS] + "..."


def to_template_error(
    exc: Exception, expression: str, *, bare: bool = False, context: Mapping[str, Any] | None = None
) -> TemplateError:
    """The TemplateError to raise for ``exc`` (the same object when it already is one)."""
    if isinstance(exc, TemplateError):
        if not exc.expression:
            exc.expression = expression
        return exc
    if isinstance(exc, TemplateSyntaxError):
        return TemplateError(_cut(f"syntax error on line {exc.lineno}: {exc.message}"), expression)
    if isinstance(exc, SecurityError):
        return TemplateError(_cut(f"not allowed: {exc}"), expression)
    if isinstance(exc, UndefinedError):
        missing = describe_undefined(expression, bare, context) if context is not None else None
        reason = exc.message or "undefined value"
        detail = f"{missing} ({reason})" if missing else reason
        return TemplateError(_cut(f"undefined: {detail}"), expression)
    if isinstance(exc, RecursionError):
        return TemplateLimitExceeded("template recursion is too deep", expression)
    if isinstance(exc, MemoryError):
        return TemplateLimitExceeded("template ran out of memory", expression)
    return TemplateError(_cut(f"{type(exc).__name__}: {exc}"), expression)
