"""IAM changes as check-before-act: each reads the current state and changes only what differs.

Repeating a call (a retried step, or the same step in a second run) therefore makes the change at
most once and reports ``changed: false`` after that.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote

from engine.sdk import ActionError
from integrations.aws.errors import translate
from integrations.aws.models import (
    DENY_ALL_DOCUMENT,
    DENY_ALL_POLICY_NAME,
    AccessKey,
    KeyChange,
    KeyList,
    KeyParams,
    KeyStatus,
    PolicyChange,
    PrincipalKind,
    PrincipalParams,
)

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_iam.type_defs import AccessKeyMetadataTypeDef

T = TypeVar("T")


def _call(operation: str, func: Callable[[], T], *, not_found: str = "NotFound") -> T:
    try:
        return func()
    except Exception as exc:
        raise translate(exc, operation=operation, not_found=not_found) from None


def _is_missing(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return bool(code == "NoSuchEntity")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _keys(iam: IAMClient, user: str) -> list[AccessKeyMetadataTypeDef]:
    def fetch() -> list[AccessKeyMetadataTypeDef]:
        pages = iam.get_paginator("list_access_keys").paginate(UserName=user)
        return [meta for page in pages for meta in page["AccessKeyMetadata"]]

    return _call(f"ListAccessKeys {user}", fetch, not_found="UserNotFound")


def list_access_keys(iam: IAMClient, user: str, *, include_last_used: bool) -> KeyList:
    """Every access key of ``user`` with its status, age and (optionally) last use."""
    keys = []
    for meta in _keys(iam, user):
        key = AccessKey(
            access_key_id=meta["AccessKeyId"],
            status=KeyStatus(meta["Status"]),
            created_at=_iso(meta.get("CreateDate")),
        )
        if include_last_used:
            used = _call(
                f"GetAccessKeyLastUsed {key.access_key_id}",
                partial(iam.get_access_key_last_used, AccessKeyId=key.access_key_id),
            )["AccessKeyLastUsed"]
            key.last_used_at = _iso(used.get("LastUsedDate"))
            key.last_used_service = _known(used.get("ServiceName"))
            key.last_used_region = _known(used.get("Region"))
        keys.append(key)
    return KeyList(user=user, keys=keys, active=sum(k.status is KeyStatus.ACTIVE for k in keys))


def _known(value: str | None) -> str | None:
    # IAM reports "N/A" for a key that was never used.
    return value if value and value != "N/A" else None


def owner_of(iam: IAMClient, access_key_id: str) -> str | None:
    """The user an access key belongs to, or ``None`` when no such key exists."""
    try:
        answer = iam.get_access_key_last_used(AccessKeyId=access_key_id)
    except Exception as exc:
        if _is_missing(exc):
            return None
        raise translate(exc, operation=f"GetAccessKeyLastUsed {access_key_id}") from None
    user: str | None = answer.get("UserName")
    return user


def _find(iam: IAMClient, params: KeyParams) -> tuple[str, AccessKeyMetadataTypeDef | None]:
    user = params.user or owner_of(iam, params.access_key_id)
    if user is None:
        return "", None
    found = [m for m in _keys(iam, user) if m["AccessKeyId"] == params.access_key_id]
    return user, (found[0] if found else None)


def deactivate_access_key(iam: IAMClient, params: KeyParams) -> KeyChange:
    """Set the key ``Inactive`` (reversible); an inactive key is left as it is."""
    user, meta = _find(iam, params)
    if meta is None:
        owner = f" of user {user!r}" if user else ""
        raise ActionError(
            f"no access key {params.access_key_id}{owner}", type="AccessKeyNotFound", retryable=False
        )
    before = KeyStatus(meta["Status"])
    if before is not KeyStatus.INACTIVE:
        _call(
            f"UpdateAccessKey {user}",
            lambda: iam.update_access_key(UserName=user, AccessKeyId=params.access_key_id, Status="Inactive"),
        )
    return KeyChange(
        user=user,
        access_key_id=params.access_key_id,
        previous_status=before,
        status=KeyStatus.INACTIVE,
        changed=before is not KeyStatus.INACTIVE,
    )


def delete_access_key(iam: IAMClient, params: KeyParams) -> KeyChange:
    """Delete the key for good; a key already gone is reported with ``changed: false``."""
    user, meta = _find(iam, params)
    gone = KeyChange(
        user=user,
        access_key_id=params.access_key_id,
        previous_status=KeyStatus.DELETED,
        status=KeyStatus.DELETED,
        changed=False,
    )
    if meta is None:
        return gone
    try:
        iam.delete_access_key(UserName=user, AccessKeyId=params.access_key_id)
    except Exception as exc:
        if _is_missing(exc):  # deleted by someone else between our look and our delete
            return gone
        raise translate(exc, operation=f"DeleteAccessKey {user}") from None
    return gone.model_copy(update={"previous_status": KeyStatus(meta["Status"]), "changed": True})


def _current_policy(iam: IAMClient, params: PrincipalParams) -> dict[str, Any] | None:
    try:
        if params.kind is PrincipalKind.USER:
            raw: Any = iam.get_user_policy(UserName=params.principal, PolicyName=DENY_ALL_POLICY_NAME)
        else:
            raw = iam.get_role_policy(RoleName=params.principal, PolicyName=DENY_ALL_POLICY_NAME)
    except Exception as exc:
        if _is_missing(exc):
            return None
        raise translate(exc, operation=f"Get{params.kind.value.title()}Policy {params.principal}") from None
    document = raw.get("PolicyDocument", {})
    if isinstance(document, str):  # botocore normally decodes it; an endpoint may not
        document = json.loads(unquote(document))
    return document if isinstance(document, dict) else {}


def deny_all(iam: IAMClient, params: PrincipalParams) -> PolicyChange:
    """Attach the inline policy ``fireline-deny-all`` (deny every action on every resource)."""
    current = _current_policy(iam, params)
    changed = current != DENY_ALL_DOCUMENT
    if changed:
        document = json.dumps(DENY_ALL_DOCUMENT)
        not_found = "UserNotFound" if params.kind is PrincipalKind.USER else "RoleNotFound"
        if params.kind is PrincipalKind.USER:
            _call(
                f"PutUserPolicy {params.principal}",
                lambda: iam.put_user_policy(
                    UserName=params.principal, PolicyName=DENY_ALL_POLICY_NAME, PolicyDocument=document
                ),
                not_found=not_found,
            )
        else:
            _call(
                f"PutRolePolicy {params.principal}",
                lambda: iam.put_role_policy(
                    RoleName=params.principal, PolicyName=DENY_ALL_POLICY_NAME, PolicyDocument=document
                ),
                not_found=not_found,
            )
    return PolicyChange(principal=params.principal, kind=params.kind, attached=True, changed=changed)


def remove_deny_all(iam: IAMClient, params: PrincipalParams) -> PolicyChange:
    """Remove ``fireline-deny-all`` again (the way back after a false alarm)."""
    if _current_policy(iam, params) is None:
        _check_principal(iam, params)
        return PolicyChange(principal=params.principal, kind=params.kind, attached=False, changed=False)
    try:
        if params.kind is PrincipalKind.USER:
            iam.delete_user_policy(UserName=params.principal, PolicyName=DENY_ALL_POLICY_NAME)
        else:
            iam.delete_role_policy(RoleName=params.principal, PolicyName=DENY_ALL_POLICY_NAME)
    except Exception as exc:
        if not _is_missing(exc):
            raise translate(
                exc, operation=f"Delete{params.kind.value.title()}Policy {params.principal}"
            ) from None
    return PolicyChange(principal=params.principal, kind=params.kind, attached=False, changed=True)


def _check_principal(iam: IAMClient, params: PrincipalParams) -> None:
    """Fail with ``UserNotFound`` / ``RoleNotFound`` when the principal does not exist."""
    if params.kind is PrincipalKind.USER:
        _call(
            f"GetUser {params.principal}",
            lambda: iam.get_user(UserName=params.principal),
            not_found="UserNotFound",
        )
    else:
        _call(
            f"GetRole {params.principal}",
            lambda: iam.get_role(RoleName=params.principal),
            not_found="RoleNotFound",
        )
