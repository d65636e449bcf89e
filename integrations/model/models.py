"""Typed parameters and results of the model integrity actions."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

FilePath = Annotated[str, Field(min_length=1, max_length=4096)]
#: Per-file lists in results are cut here so a huge model cannot fill the workflow history.
MAX_LISTED = 200


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HashAlgorithm(StrEnum):
    """Per-file digest algorithms ``model-signing`` supports."""

    SHA256 = "sha256"
    BLAKE2 = "blake2"
    BLAKE3 = "blake3"


class VerifyMode(StrEnum):
    """How the signature is checked."""

    KEY = "key"  # an elliptic-curve public key paired with the signing key
    CERTIFICATE = "certificate"  # a signing certificate chaining to trusted CA certificates


class VerifyFailure(StrEnum):
    """Why a model did not verify."""

    MODEL_MODIFIED = "model_modified"  # the signature is genuine; files differ from what was signed
    SIGNATURE_INVALID = "signature_invalid"  # wrong key, untrusted certificate, or forged signature
    SIGNATURE_UNREADABLE = "signature_unreadable"  # not a model-signing bundle
    SIGNATURE_MISSING = "signature_missing"  # no signature file where one was expected


class HashParams(_Params):
    """Parameters of ``model.hash``."""

    path: FilePath = Field(description="Model directory or single model file.")
    algorithm: HashAlgorithm = HashAlgorithm.SHA256
    ignore_paths: list[FilePath] = Field(
        default_factory=list, description="Paths inside the model to leave out (relative to it)."
    )
    expected_digest: str | None = Field(
        None, pattern=r"^[0-9a-fA-F]{64}$", description="Known model digest to compare with."
    )


class VerifyParams(_Params):
    """Parameters of ``model.verify_signature``."""

    path: FilePath = Field(description="Model directory or single model file.")
    signature: FilePath | None = Field(
        None, description="Signature bundle; by default <path>/model.sig (directory) or <path>.sig (file)."
    )
    public_key: FilePath | None = Field(None, description="PEM public key (key mode).")
    certificate_chain: list[FilePath] = Field(
        default_factory=list, description="PEM CA certificates to trust (certificate mode)."
    )
    ignore_paths: list[FilePath] = Field(
        default_factory=list, description="Further paths inside the model to leave out."
    )
    require_valid: bool = Field(
        False, description="Fail the step with SignatureInvalid instead of returning verified: false."
    )

    @model_validator(mode="after")
    def _one_mode(self) -> VerifyParams:
        if self.public_key and self.certificate_chain:
            raise ValueError("give public_key (key mode) or certificate_chain (certificate mode), not both")
        return self


class FileDigest(BaseModel):
    """One file of a model and its digest."""

    name: str
    digest: str


class HashResult(BaseModel):
    """Result of ``model.hash``."""

    path: str
    model_name: str
    algorithm: HashAlgorithm
    digest: str = Field(description="SHA-256 over the per-file digests: the digest a signature signs.")
    files: int
    resources: list[FileDigest]
    truncated: bool = False
    matches: bool | None = Field(None, description="Whether digest equals expected_digest (when given).")


class VerifyResult(BaseModel):
    """Result of ``model.verify_signature``."""

    verified: bool
    mode: VerifyMode
    path: str
    signature: str
    failure: VerifyFailure | None = None
    reason: str = ""
    model_name: str | None = Field(None, description="Model name recorded in the signature.")
    digest: str | None = Field(None, description="Model digest recorded in the signature.")
    files: int = Field(0, description="Files the signature covers.")
    modified: list[str] = Field(default_factory=list, description="Files whose content changed.")
    missing: list[str] = Field(default_factory=list, description="Signed files that are gone.")
    added: list[str] = Field(default_factory=list, description="Files that were not signed.")
