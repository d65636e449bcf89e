"""Typed parameters and results of the MLflow actions."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

ModelName = Annotated[str, Field(min_length=1, max_length=256)]
#: MLflow aliases: letters, digits, ``_`` and ``-``.
Alias = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_-]+$")]
Version = Annotated[int, Field(ge=1)]

DEFAULT_ALIAS = "production"


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuarantineParams(_Params):
    """Parameters of ``mlflow.quarantine_model``."""

    name: ModelName = Field(description="Registered model name.")
    alias: Alias = Field(DEFAULT_ALIAS, description="The serving alias to move off the version.")
    version: Version | None = Field(
        None, description="Version to quarantine; by default the one the alias points at."
    )
    reason: str = Field("", max_length=1000, description="Why; stored on the version as a tag.")
    fallback: bool = Field(
        False,
        description="Point the alias at the last good version instead of deleting it.",
    )


class RestoreParams(_Params):
    """Parameters of ``mlflow.restore_model``."""

    name: ModelName
    version: Version
    force: bool = Field(
        False, description="Take the alias back even if someone pointed it elsewhere since the quarantine."
    )


class RollbackParams(_Params):
    """Parameters of ``mlflow.rollback_model``."""

    name: ModelName
    alias: Alias = DEFAULT_ALIAS
    to_version: Version | None = Field(
        None, description="Roll back to this version instead of choosing the last good one."
    )


class QuarantineOutcome(StrEnum):
    """What ``mlflow.quarantine_model`` found and did."""

    QUARANTINED = "quarantined"  # this call quarantined the version
    ALREADY_QUARANTINED = "already_quarantined"  # nothing to do
    RESUMED = "resumed"  # an earlier attempt of the same step was finished


class RestoreOutcome(StrEnum):
    """What ``mlflow.restore_model`` found and did."""

    RESTORED = "restored"
    NOT_QUARANTINED = "not_quarantined"


class RollbackBasis(StrEnum):
    """How ``mlflow.rollback_model`` chose the version."""

    VERIFIED = "verified"  # highest version tagged fireline.verified=true, not quarantined
    PREVIOUS = "previous"  # highest non-quarantined version before the current one
    EXPLICIT = "explicit"  # the step named it


class QuarantineResult(BaseModel):
    """Result of ``mlflow.quarantine_model``."""

    name: str
    version: int
    alias: str
    outcome: QuarantineOutcome
    changed: bool
    quarantined: bool = True
    previous_aliases: list[str] = Field(
        default_factory=list,
        description="Aliases fireline moved off the version (restored by restore_model).",
    )
    alias_version: int | None = Field(None, description="Where the alias points now (None: deleted).")
    fallback_version: int | None = None
    reason: str = ""
    quarantined_by_run: str = ""


class RestoreResult(BaseModel):
    """Result of ``mlflow.restore_model``."""

    name: str
    version: int
    outcome: RestoreOutcome
    changed: bool
    aliases: list[str] = Field(default_factory=list, description="Aliases pointed back at the version.")


class RollbackResult(BaseModel):
    """Result of ``mlflow.rollback_model``."""

    name: str
    alias: str
    changed: bool
    from_version: int | None
    to_version: int
    basis: RollbackBasis
