"""Verify a model against its ``model-signing`` signature, offline (key or certificate mode).

The outcome of a check is data: a model that does not verify returns ``verified: false`` with the
reason (``model_modified``, ``signature_invalid``, ``signature_unreadable``,
``signature_missing``), so a playbook can branch on ``not steps.verify.output.verified``. Errors
are kept for what no verdict can come from: no model at the path, a path outside
``MODEL_PATH_ROOTS``, or a key or CA file that cannot be loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.sdk import ActionContext, ActionError
from integrations.model.config import (
    CERTIFICATE_CHAIN,
    PUBLIC_KEY,
    allowed_path,
    default_signature,
    existing_model,
    split_paths,
)
from integrations.model.manifest import SignedStatement, config_for, digests, read_statement, relative_inside
from integrations.model.models import MAX_LISTED, VerifyFailure, VerifyMode, VerifyParams, VerifyResult

if TYPE_CHECKING:
    from model_signing.verifying import Config as VerifyingConfig

_MAX_REASON = 500


def _trust(ctx: ActionContext, params: VerifyParams) -> tuple[VerifyMode, list[str]]:
    """The mode and the files it trusts: from the step, else from settings."""
    if params.public_key:
        return VerifyMode.KEY, [params.public_key]
    if params.certificate_chain:
        return VerifyMode.CERTIFICATE, list(params.certificate_chain)
    key = ctx.setting(PUBLIC_KEY)
    if key:
        return VerifyMode.KEY, [key]
    chain = split_paths(ctx.setting(CERTIFICATE_CHAIN))
    if chain:
        return VerifyMode.CERTIFICATE, chain
    raise ActionError(
        f"give public_key or certificate_chain, or set {PUBLIC_KEY} or {CERTIFICATE_CHAIN}",
        type="NotConfigured",
        retryable=False,
    )


def _verifier(mode: VerifyMode, trusted: list[str]) -> VerifyingConfig:
    from model_signing import verifying

    config = verifying.Config()  # type: ignore[no-untyped-call]
    try:
        if mode is VerifyMode.KEY:
            return config.use_elliptic_key_verifier(public_key=trusted[0])
        # An explicit chain is required: an empty one would trust every public web CA.
        return config.use_certificate_verifier(certificate_chain=trusted)
    except (OSError, ValueError, TypeError) as exc:
        what = "public key" if mode is VerifyMode.KEY else "CA certificates"
        raise ActionError(
            f"cannot load the {what} {', '.join(trusted)}: {str(exc)[:_MAX_REASON]}",
            type="InvalidKey" if mode is VerifyMode.KEY else "InvalidCertificate",
            retryable=False,
        ) from None


def verify(ctx: ActionContext, params: VerifyParams) -> VerifyResult:
    """Check the model at ``params.path`` against its signature; see the module docstring."""
    model = existing_model(ctx, params.path)
    signature = (
        allowed_path(ctx, params.signature, what="signature")
        if params.signature
        else default_signature(model)
    )
    mode, trusted = _trust(ctx, params)
    result = VerifyResult(verified=False, mode=mode, path=str(model), signature=str(signature))
    if not signature.is_file():
        return _failed(result, VerifyFailure.SIGNATURE_MISSING, f"no signature at {signature}")
    try:
        statement = read_statement(signature)
    except ValueError as exc:
        return _failed(result, VerifyFailure.SIGNATURE_UNREADABLE, str(exc))
    ignore = list(params.ignore_paths)
    inside = relative_inside(model, signature)
    if inside:
        ignore.append(inside)
    try:
        config = config_for(statement, ignore)
    except (ValueError, TypeError) as exc:
        return _failed(result, VerifyFailure.SIGNATURE_UNREADABLE, f"unknown serialization: {exc}")
    verifier = _verifier(mode, trusted)
    try:
        verifier.set_hashing_config(config).verify(model, signature)
    except OSError as exc:
        raise ActionError(f"cannot read the model: {exc}", type="ModelUnreadable", retryable=False) from None
    except Exception as exc:  # the library signals every kind of mismatch with plain exceptions
        message = str(exc) or type(exc).__name__
        if message.startswith("Signature mismatch"):
            # The signature itself checked out, so the signed file list can be trusted for the diff.
            return _modified(result, statement, digests(config_for(statement, ignore), model))
        return _failed(result, VerifyFailure.SIGNATURE_INVALID, message)
    return result.model_copy(
        update={
            "verified": True,
            "model_name": statement.model_name,
            "digest": statement.digest,
            "files": len(statement.resources),
        }
    )


def _failed(result: VerifyResult, failure: VerifyFailure, reason: str) -> VerifyResult:
    return result.model_copy(update={"failure": failure, "reason": reason[:_MAX_REASON]})


def _modified(result: VerifyResult, statement: SignedStatement, actual: dict[str, str]) -> VerifyResult:
    signed = statement.resources
    modified = sorted(n for n in signed.keys() & actual.keys() if signed[n] != actual[n])
    missing = sorted(signed.keys() - actual.keys())
    added = sorted(actual.keys() - signed.keys())
    count = len(modified) + len(missing) + len(added)
    return result.model_copy(
        update={
            "failure": VerifyFailure.MODEL_MODIFIED,
            "reason": f"{count} file(s) differ from the signed model",
            "model_name": statement.model_name,
            "digest": statement.digest,
            "files": len(signed),
            "modified": modified[:MAX_LISTED],
            "missing": missing[:MAX_LISTED],
            "added": added[:MAX_LISTED],
        }
    )
