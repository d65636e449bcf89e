"""Built-in actions that need no outside system."""

from __future__ import annotations

from typing import Any

from engine.sdk import ActionContext, ActionError, action


@action("core.echo", idempotent=True)
def echo(ctx: ActionContext, message: str) -> dict[str, str]:
    """Return the message; useful to record a note on the timeline."""
    ctx.logger.info("echo %s: %s", ctx.step_path, message[:200])
    return {"message": message}


@action("core.set", idempotent=True)
def set_values(values: dict[str, Any]) -> dict[str, Any]:
    """Return ``values`` unchanged, so later steps can refer to computed values."""
    return values


@action("core.fail")
def fail(message: str, type: str = "Failure", retryable: bool = False) -> None:
    """Fail on purpose (drills and rehearsals of ``on_failure``)."""
    raise ActionError(message, type=type, retryable=retryable)
