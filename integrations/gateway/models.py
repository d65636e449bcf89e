"""Typed parameters and results of the gateway actions, and the key record LiteLLM returns."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: A virtual key as LiteLLM accepts it: the key itself (``sk-...``) or its sha256 token (hex).
KeyRef = Annotated[
    str,
    Field(
        min_length=4,
        max_length=512,
        pattern=r"^\S+$",
        description="The virtual key (sk-...) or its hashed token; prefer the token in playbooks",
    ),
]


def key_id(key: str) -> str:
    """The key's token as LiteLLM stores it: sha256 of an ``sk-`` key, any other value as given."""
    return hashlib.sha256(key.encode()).hexdigest() if key.startswith("sk-") else key


def masked(key: str) -> str:
    """``sk-...abcd``: the form LiteLLM shows (``key_name``); safe for logs and history."""
    return f"sk-...{key[-4:]}" if key.startswith("sk-") else f"{key[:8]}..."


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeyParams(_Params):
    """Parameters of ``gateway.block_key`` and ``gateway.unblock_key``."""

    key: KeyRef


class LimitParams(_Params):
    """Parameters of ``gateway.limit_key``: the limits to set (omitted ones stay as they are)."""

    key: KeyRef
    rpm_limit: int | None = Field(None, ge=0, description="Requests per minute")
    tpm_limit: int | None = Field(None, ge=0, description="Tokens per minute")
    max_parallel_requests: int | None = Field(None, ge=0, description="Concurrent requests")

    @model_validator(mode="after")
    def _something_to_set(self) -> LimitParams:
        if self.rpm_limit is None and self.tpm_limit is None and self.max_parallel_requests is None:
            raise ValueError("give rpm_limit, tpm_limit or max_parallel_requests")
        return self

    def wanted(self) -> dict[str, int]:
        """The limits this step sets."""
        fields = ("rpm_limit", "tpm_limit", "max_parallel_requests")
        return {name: value for name in fields if (value := getattr(self, name)) is not None}


class RotationStrategy(StrEnum):
    """How a key is rotated."""

    #: ``POST /key/{key}/regenerate``: same key record, new secret (LiteLLM Enterprise).
    REGENERATE = "regenerate"
    #: ``POST /key/generate`` with the old key's settings, then ``POST /key/delete`` of the old key.
    REPLACE = "replace"


class RotateParams(_Params):
    """Parameters of ``gateway.rotate_key``."""

    key: KeyRef
    strategy: RotationStrategy = RotationStrategy.REGENERATE


class KeyState(BaseModel):
    """The parts of LiteLLM's key record (``/key/info``'s ``info``) the actions read."""

    model_config = ConfigDict(extra="ignore")

    key_name: str | None = None
    key_alias: str | None = None
    blocked: bool | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel_requests: int | None = None
    max_budget: float | None = None
    models: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    team_id: str | None = None
    user_id: str | None = None
    expires: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _nulls(cls, data: Any) -> Any:
        # LiteLLM sends null for empty lists and mappings.
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if not (k in ("models", "metadata") and v is None)}
        return data

    def limits(self) -> dict[str, int | None]:
        """The current rate limits."""
        return {
            "rpm_limit": self.rpm_limit,
            "tpm_limit": self.tpm_limit,
            "max_parallel_requests": self.max_parallel_requests,
        }
