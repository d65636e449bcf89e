"""Helpers for tests and rehearsals of playbooks that use the MLflow actions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.sdk import ActionContext
from engine.sdk.testing import action_context as base_context
from integrations.mlflow.client import VERIFIED, ModelState, RegistryClient
from integrations.mlflow.config import URI, MlflowSettings


def action_context(
    tracking_uri: str | None = None,
    *,
    secrets: Mapping[str, str] | None = None,
    idempotency_key: str = "run-test/step/0",
    run_id: str = "run-test",
    step_path: str = "step",
    attempt: int = 1,
    settings: Mapping[str, Any] | None = None,
) -> ActionContext:
    """An :class:`ActionContext` for calling an MLflow action directly.

    Args:
        tracking_uri: Put into the settings as ``MLFLOW_TRACKING_URI`` when given.
        secrets: Resolved secrets (token or username/password); none by default.
        idempotency_key: What the engine would pass for this step; keep it to test retries.
        run_id: The run the action belongs to (recorded on quarantined versions).
        step_path: The step's path in the playbook.
        attempt: The attempt number (1 for the first).
        settings: Further settings (e.g. ``MLFLOW_HTTP_REQUEST_TIMEOUT``).
    """
    merged: dict[str, Any] = dict(settings or {})
    if tracking_uri is not None:
        merged[URI] = tracking_uri
    return base_context(
        secrets=secrets,
        settings=merged,
        idempotency_key=idempotency_key,
        run_id=run_id,
        step_path=step_path,
        attempt=attempt,
    )


def seed_model(
    tracking_uri: str,
    name: str,
    *,
    versions: int,
    alias: str | None = "production",
    alias_version: int | None = None,
    verified: Iterable[int] = (),
) -> ModelState:
    """Register ``name`` with ``versions`` versions (sources ``s3://models/<name>/<n>``).

    Args:
        tracking_uri: The tracking server.
        name: Model name (must not exist yet).
        versions: How many versions to create (1..versions).
        alias: Alias to set, or ``None`` for none.
        alias_version: Version the alias points at (the last one by default).
        verified: Versions to tag ``fireline.verified=true``.

    Returns:
        The model as the registry now reports it.
    """
    good = set(verified)
    with RegistryClient(MlflowSettings(url=tracking_uri.rstrip("/"))) as client:
        client.create_model(name)
        for n in range(1, versions + 1):
            # The registry refuses local file:// sources outside a run; an s3:// URI is accepted as is.
            client.create_version(name, f"s3://models/{name}/{n}", {VERIFIED: "true"} if n in good else None)
        if alias is not None:
            client.set_alias(name, alias, alias_version or versions)
        return client.load(name)


def load_model(tracking_uri: str, name: str) -> ModelState:
    """The model ``name`` with its aliases, tags and versions, for assertions."""
    with RegistryClient(MlflowSettings(url=tracking_uri.rstrip("/"))) as client:
        return client.load(name)
