"""Helpers for tests of playbooks and actions that use Elasticsearch."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.sdk import ActionContext
from engine.sdk.testing import action_context as base_context
from integrations.elasticsearch.config import SECRETS, URL


def action_context(
    elasticsearch_url: str | None = None,
    *,
    secrets: Mapping[str, str] | None = None,
    idempotency_key: str = "run-test/step/0",
    run_id: str = "run-test",
    step_path: str = "step",
    attempt: int = 1,
    settings: Mapping[str, Any] | None = None,
    heartbeat: Callable[..., None] | None = None,
) -> ActionContext:
    """An :class:`ActionContext` for calling an Elasticsearch action directly.

    Args:
        elasticsearch_url: Put into the settings as ``ELASTICSEARCH_URL`` when given.
        secrets: Resolved secrets (API key or username/password); none by default.
        idempotency_key: What the engine would pass for this step; keep it to test retries.
        run_id: The run the action belongs to.
        step_path: The step's path in the playbook.
        attempt: The attempt number (1 for the first).
        settings: Further settings (e.g. ``ELASTICSEARCH_CA_FILE``).
        heartbeat: Receives the action's heartbeat details.
    """
    merged: dict[str, Any] = dict(settings or {})
    if elasticsearch_url is not None:
        merged[URL] = elasticsearch_url
    return base_context(
        secrets=secrets,
        settings=merged,
        idempotency_key=idempotency_key,
        run_id=run_id,
        step_path=step_path,
        attempt=attempt,
        heartbeat=heartbeat,
    )


def secrets_from(environ: Mapping[str, str]) -> dict[str, str]:
    """The Elasticsearch secrets present in ``environ`` (for contract tests against a real cluster)."""
    return {name: environ[name] for name in SECRETS if environ.get(name)}
