"""AWS IAM actions: find, deactivate and delete a principal's access keys; fence it with a deny-all.

The connection comes from configuration (:mod:`integrations.aws.config`), never from step
arguments. Every change is check-before-act: it reads the current state first and reports
``changed: false`` when there was nothing left to do, so a retried or repeated step changes IAM at
most once. Failures are :class:`engine.sdk.ActionError` typed ``UserNotFound``, ``RoleNotFound``,
``AccessKeyNotFound``, ``Forbidden``, ``Unauthorized``, ``NotConfigured`` (not retryable) or
``TooManyRequests``, ``Unavailable``, ``Timeout`` (retryable).
"""

from __future__ import annotations

from typing import Any

from engine.sdk import ActionContext, action
from integrations.aws import iam
from integrations.aws.config import SECRETS, iam_client, settings_from_context
from integrations.aws.models import KeyParams, ListKeysParams, PrincipalParams


@action("aws.list_access_keys", optional_secrets=SECRETS, idempotent=True)
def list_access_keys(ctx: ActionContext, params: ListKeysParams) -> dict[str, Any]:
    """List a user's access keys; returns {user, keys: [{access_key_id, status, created_at,
    last_used_at, last_used_service, last_used_region}], active}."""
    client = iam_client(settings_from_context(ctx))
    return iam.list_access_keys(client, params.user, include_last_used=params.include_last_used).model_dump(
        mode="json"
    )


@action("aws.deactivate_access_key", optional_secrets=SECRETS, idempotent=True)
def deactivate_access_key(ctx: ActionContext, params: KeyParams) -> dict[str, Any]:
    """Make an access key ``Inactive`` (reversible); returns {user, access_key_id, previous_status,
    status, changed}.

    Without ``user`` the key's owner is looked up from the key id, so a leaked key found in logs is
    enough. An unknown key fails with ``AccessKeyNotFound``.
    """
    client = iam_client(settings_from_context(ctx))
    result = iam.deactivate_access_key(client, params)
    ctx.logger.info("access key %s of %s: changed=%s", params.access_key_id, result.user, result.changed)
    return result.model_dump(mode="json")


@action("aws.delete_access_key", optional_secrets=SECRETS, idempotent=True)
def delete_access_key(ctx: ActionContext, params: KeyParams) -> dict[str, Any]:
    """Delete an access key for good; a key already gone returns ``changed: false``.

    Returns {user, access_key_id, previous_status, status: Deleted, changed}.
    """
    client = iam_client(settings_from_context(ctx))
    return iam.delete_access_key(client, params).model_dump(mode="json")


@action("aws.deny_all", optional_secrets=SECRETS, idempotent=True)
def deny_all(ctx: ActionContext, params: PrincipalParams) -> dict[str, Any]:
    """Attach the inline policy ``fireline-deny-all`` to a user or role (``kind``).

    An explicit deny of every action overrides every allow, including for sessions already issued
    to a role. Returns {principal, kind, policy_name, attached, changed}.
    """
    client = iam_client(settings_from_context(ctx))
    return iam.deny_all(client, params).model_dump(mode="json")


@action("aws.remove_deny_all", optional_secrets=SECRETS, idempotent=True)
def remove_deny_all(ctx: ActionContext, params: PrincipalParams) -> dict[str, Any]:
    """Remove ``fireline-deny-all`` from a user or role again; returns {principal, kind, policy_name,
    attached: false, changed}."""
    client = iam_client(settings_from_context(ctx))
    return iam.remove_deny_all(client, params).model_dump(mode="json")
