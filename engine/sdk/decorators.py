"""The ``@action`` decorator."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from engine.registry import REGISTRY, ActionRegistry, build_definition
from engine.sdk.context import ActionContext

F = TypeVar("F", bound=Callable[..., Any])


def action(
    name: str,
    *,
    secrets: Iterable[str] = (),
    optional_secrets: Iterable[str] = (),
    idempotent: bool = False,
    registry: ActionRegistry | None = None,
) -> Callable[[F], F]:
    """Register a function as the action ``name`` (``<system>.<verb>``).

    Args:
        name: Dotted action name used in playbooks' ``uses:``.
        secrets: Names of secrets the action needs; resolved from configuration per attempt.
        optional_secrets: Secrets used when present.
        idempotent: True when repeating the call with the same idempotency key is safe.
        registry: Registry to add to (the global one by default).
    """
    if "." not in name:
        raise ValueError(f"action name {name!r} must look like '<system>.<action>'")

    def wrap(func: F) -> F:
        definition = build_definition(
            name,
            func,
            context_type=ActionContext,
            secrets=secrets,
            optional_secrets=optional_secrets,
            idempotent=idempotent,
        )
        (registry or REGISTRY).register(definition)
        func.__fireline_action__ = definition  # type: ignore[attr-defined]
        return func

    return wrap
