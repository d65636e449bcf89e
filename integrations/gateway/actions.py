"""Contain a model gateway key: block, unblock, cap its rate, rotate its secret (LiteLLM proxy).

Every action reads the key first and changes only what differs, so a retried or repeated step
reports ``changed: false`` instead of acting twice. Results name the key by its hashed token
(``key_id``) and masked name, never by the key itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from engine.sdk import ActionContext, ActionError, action
from integrations.gateway.client import MASTER_KEY, LiteLLM, client_from_context
from integrations.gateway.models import (
    KeyParams,
    KeyState,
    LimitParams,
    RotateParams,
    RotationStrategy,
    key_id,
    masked,
)


def _existing(client: LiteLLM, key: str) -> KeyState:
    state = client.info(key)
    if state is None:
        raise ActionError(f"LiteLLM has no key {_ref(key)}", type="KeyNotFound", retryable=False)
    return state


def _ref(key: str) -> str:
    return masked(key) if key.startswith("sk-") else key_id(key)[:12] + "…"


def _identity(key: str, state: KeyState) -> dict[str, Any]:
    return {"key_id": key_id(key), "key_name": state.key_name or _ref(key), "key_alias": state.key_alias}


@action("gateway.block_key", secrets=[MASTER_KEY], idempotent=True)
def block_key(ctx: ActionContext, params: KeyParams) -> dict[str, Any]:
    """Block a virtual key at the LiteLLM proxy: every request with it is refused.

    Returns {key_id, key_name, key_alias, blocked, changed}; an already blocked key is left as is.
    """
    client = client_from_context(ctx)
    state = _existing(client, params.key)
    changed = state.blocked is not True
    if changed:
        client.block(params.key)
    return {**_identity(params.key, state), "blocked": True, "changed": changed}


@action("gateway.unblock_key", secrets=[MASTER_KEY], idempotent=True)
def unblock_key(ctx: ActionContext, params: KeyParams) -> dict[str, Any]:
    """Unblock a virtual key (undo ``gateway.block_key``); returns {key_id, key_name, blocked, changed}."""
    client = client_from_context(ctx)
    state = _existing(client, params.key)
    changed = state.blocked is True
    if changed:
        client.unblock(params.key)
    return {**_identity(params.key, state), "blocked": False, "changed": changed}


@action("gateway.limit_key", secrets=[MASTER_KEY], idempotent=True)
def limit_key(ctx: ActionContext, params: LimitParams) -> dict[str, Any]:
    """Cap a key's requests and tokens per minute (``/key/update``).

    Returns {key_id, key_name, limits, previous, changed}; ``previous`` holds the limits before
    the change so a later step can restore them.
    """
    client = client_from_context(ctx)
    state = _existing(client, params.key)
    before = state.limits()
    wanted = params.wanted()
    changes = {name: value for name, value in wanted.items() if before.get(name) != value}
    if changes:
        client.update(params.key, **changes)
    return {
        **_identity(params.key, state),
        "limits": {**before, **wanted},
        "previous": before,
        "changed": bool(changes),
    }


def derived_key(master_key: str, idempotency_key: str, old_key_id: str) -> str:
    """The rotated key's value: the same for every attempt of one step, unguessable without the master key.

    Choosing the value ourselves is what makes rotation safe to retry: an attempt that finds the
    old key gone looks for this one to learn that an earlier attempt already rotated it.
    """
    message = f"fireline-rotation\0{idempotency_key}\0{old_key_id}".encode()
    digest = hmac.new(master_key.encode(), message, hashlib.sha256).digest()
    return "sk-" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


@action("gateway.rotate_key", secrets=[MASTER_KEY], idempotent=True)
def rotate_key(ctx: ActionContext, params: RotateParams) -> dict[str, Any]:
    """Replace a key's secret: the old value stops working, its settings stay.

    ``strategy: regenerate`` (default) uses ``/key/{key}/regenerate`` (LiteLLM Enterprise);
    ``strategy: replace`` creates a key with the same models, limits, budget, team, user and
    metadata and deletes the old one. Returns {key_id, previous_key_id, key_name, changed,
    strategy}. The new secret is never returned (results are kept in the run's history): its
    owner obtains a fresh one from the LiteLLM admin.
    """
    client = client_from_context(ctx)
    old_id = key_id(params.key)
    new_key = derived_key(client.master_key, ctx.idempotency_key, old_id)
    old = client.info(params.key)
    new = client.info(new_key)
    if old is None and new is None:
        raise ActionError(f"LiteLLM has no key {_ref(params.key)}", type="KeyNotFound", retryable=False)
    changed = False
    if new is None:
        assert old is not None
        changed = True
        if params.strategy is RotationStrategy.REGENERATE:
            client.regenerate(params.key, new_key)
        else:
            client.generate(**_copy_settings(old, new_key, old_id, ctx.run_id))
    if params.strategy is RotationStrategy.REPLACE:
        changed = _finish_replace(client, params.key, new_key, old) or changed
    return {
        "key_id": key_id(new_key),
        "previous_key_id": old_id,
        "key_name": masked(new_key),
        "changed": changed,
        "strategy": params.strategy.value,
    }


def _finish_replace(client: LiteLLM, key: str, new_key: str, old: KeyState | None) -> bool:
    """Delete the old key, then give its alias to the copy; True when anything changed."""
    changed = False
    if client.info(key) is not None:
        client.delete([key_id(key)])
        changed = True
    current = client.info(new_key)
    # Aliases are unique, so the copy gets the alias only once the original is gone; the copy's
    # metadata remembers it for an attempt that finds the original already deleted.
    alias = old.key_alias if old is not None else None
    if alias is None and current is not None:
        remembered = current.metadata.get("previous_alias")
        alias = remembered if isinstance(remembered, str) else None
    if current is not None and alias and current.key_alias != alias:
        client.update(new_key, key_alias=alias)
        changed = True
    return changed


def _copy_settings(old: KeyState, new_key: str, old_id: str, run_id: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "key": new_key,
        "models": old.models,
        "metadata": {
            **old.metadata,
            "rotated_from": old_id,
            "rotated_by": f"fireline:{run_id}",
            "previous_alias": old.key_alias,
        },
    }
    for name in ("rpm_limit", "tpm_limit", "max_parallel_requests", "max_budget", "team_id", "user_id"):
        value = getattr(old, name)
        if value is not None:
            fields[name] = value
    if old.blocked:
        fields["blocked"] = True
    return fields
