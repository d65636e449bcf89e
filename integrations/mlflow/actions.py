"""MLflow model registry actions: take a model version out of service, bring back a good one, undo.

The tracking server comes from configuration (:mod:`integrations.mlflow.config`). Fireline's marks
are ordinary MLflow tags, visible in the MLflow UI:

- on the quarantined version: ``fireline.quarantined=true``, ``fireline.quarantine.reason``,
  ``.run``, ``.previous_alias`` (aliases moved off it), ``.fallback_version``, ``.key``, ``.at``;
- on the registered model: ``fireline.rollback.<alias>`` (JSON: from, to, run, basis, at).

A version you trust is tagged ``fireline.verified=true`` by your release process; rollbacks and
fallbacks prefer the highest such version. Every action is idempotent: repeating it, or retrying it
after a crash, finishes the same change and reports ``changed: false`` when there was nothing to do.
"""

from __future__ import annotations

from typing import Any

from engine.sdk import ActionContext, action
from integrations.mlflow import lifecycle
from integrations.mlflow.client import RegistryClient
from integrations.mlflow.config import SECRETS, settings_from_context
from integrations.mlflow.models import QuarantineParams, RestoreParams, RollbackParams


def _client(ctx: ActionContext) -> RegistryClient:
    return RegistryClient(settings_from_context(ctx))


@action("mlflow.quarantine_model", optional_secrets=SECRETS, idempotent=True)
def quarantine_model(ctx: ActionContext, params: QuarantineParams) -> dict[str, Any]:
    """Take a model version out of service: move the alias off it and tag it quarantined.

    Without ``version`` the version the alias points at is quarantined. The alias is deleted, or
    with ``fallback: true`` pointed at the last good version (the highest one tagged
    ``fireline.verified=true``, else the highest earlier one not quarantined). Returns {name,
    version, alias, outcome, changed, previous_aliases, alias_version, fallback_version, reason,
    quarantined_by_run}; ``mlflow.restore_model`` undoes it exactly.
    """
    with _client(ctx) as client:
        state = client.load(params.name)
        result = lifecycle.quarantine(client, state, params, run_id=ctx.run_id, key=ctx.idempotency_key)
    ctx.logger.info("quarantine %s v%s: %s", result.name, result.version, result.outcome.value)
    return result.model_dump(mode="json")


@action("mlflow.restore_model", optional_secrets=SECRETS, idempotent=True)
def restore_model(ctx: ActionContext, params: RestoreParams) -> dict[str, Any]:
    """Undo a quarantine: point the aliases moved off the version back at it and remove fireline's tags.

    Refuses (``AliasMoved``) when someone pointed an alias elsewhere since, unless ``force: true``.
    Returns {name, version, outcome, changed, aliases}.
    """
    with _client(ctx) as client:
        result = lifecycle.restore(client, client.load(params.name), params)
    return result.model_dump(mode="json")


@action("mlflow.rollback_model", optional_secrets=SECRETS, idempotent=True)
def rollback_model(ctx: ActionContext, params: RollbackParams) -> dict[str, Any]:
    """Point the alias at the last good version: the highest verified one, else the one before.

    ``to_version`` names the version instead. Fails with ``NoGoodVersion`` when there is none.
    Returns {name, alias, changed, from_version, to_version, basis}.
    """
    with _client(ctx) as client:
        state = client.load(params.name)
        result = lifecycle.rollback(client, state, params, run_id=ctx.run_id, key=ctx.idempotency_key)
    return result.model_dump(mode="json")
