"""Typed parameters and results of the AWS IAM actions."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

#: IAM user and role names: letters, digits and ``+=,.@_-``, at most 64 characters.
PrincipalName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w+=,.@-]+$")]
#: Access key ids (``AKIA...``, ``ASIA...``): upper-case letters and digits.
AccessKeyId = Annotated[str, Field(min_length=16, max_length=128, pattern=r"^[A-Z0-9]+$")]

DENY_ALL_POLICY_NAME = "fireline-deny-all"
DENY_ALL_DOCUMENT: dict[str, object] = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "FirelineDenyAll", "Effect": "Deny", "Action": "*", "Resource": "*"}],
}


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrincipalKind(StrEnum):
    """What a principal name refers to."""

    USER = "user"
    ROLE = "role"


class KeyStatus(StrEnum):
    """State of an access key."""

    ACTIVE = "Active"
    INACTIVE = "Inactive"
    DELETED = "Deleted"


class ListKeysParams(_Params):
    """Parameters of ``aws.list_access_keys``."""

    user: PrincipalName
    include_last_used: bool = Field(True, description="Also report when and where each key was last used.")


class KeyParams(_Params):
    """Parameters of ``aws.deactivate_access_key`` and ``aws.delete_access_key``."""

    access_key_id: AccessKeyId
    user: PrincipalName | None = Field(
        None, description="Owner of the key; looked up from the key id when omitted."
    )


class PrincipalParams(_Params):
    """Parameters of ``aws.deny_all`` and ``aws.remove_deny_all``."""

    principal: PrincipalName = Field(description="IAM user or role name.")
    kind: PrincipalKind = PrincipalKind.USER


class AccessKey(BaseModel):
    """One access key of a user."""

    access_key_id: str
    status: KeyStatus
    created_at: str | None = None
    last_used_at: str | None = None
    last_used_service: str | None = None
    last_used_region: str | None = None


class KeyList(BaseModel):
    """Result of ``aws.list_access_keys``."""

    user: str
    keys: list[AccessKey]
    active: int


class KeyChange(BaseModel):
    """Result of ``aws.deactivate_access_key`` / ``aws.delete_access_key``."""

    user: str
    access_key_id: str
    previous_status: KeyStatus
    status: KeyStatus
    changed: bool


class PolicyChange(BaseModel):
    """Result of ``aws.deny_all`` / ``aws.remove_deny_all``."""

    principal: str
    kind: PrincipalKind
    policy_name: str = DENY_ALL_POLICY_NAME
    attached: bool
    changed: bool
