"""Help for integration authors' tests: call an action directly, the way a step would."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.sdk.context import ActionContext


def action_context(
    *,
    secrets: Mapping[str, str] | None = None,
    settings: Mapping[str, Any] | None = None,
    idempotency_key: str = "run-test/step/0",
    run_id: str = "run-test",
    step_path: str = "step",
    attempt: int = 1,
    heartbeat: Callable[..., None] | None = None,
) -> ActionContext:
    """An :class:`ActionContext` as the engine would build it for one attempt.

    Args:
        secrets: Resolved secrets; none by default.
        settings: Non-secret settings the action reads with ``ctx.setting``.
        idempotency_key: What the engine would pass for this step; keep it to test retries.
        run_id: The run the action belongs to.
        step_path: The step's path in the playbook.
        attempt: The attempt number (1 for the first).
        heartbeat: Receives the action's heartbeat details.
    """
    return ActionContext(
        run_id=run_id,
        workflow_id=f"wf-{run_id}",
        playbook="test",
        step_path=step_path,
        attempt=attempt,
        idempotency_key=idempotency_key,
        secrets=dict(secrets or {}),
        settings=dict(settings or {}),
        heartbeat=heartbeat or (lambda *details: None),
    )
