"""Model integrity actions: hash a model and verify its OpenSSF ``model-signing`` signature.

Both work offline. ``model.verify_signature`` reports a failed check as data (``verified: false``
with ``failure`` and ``reason``) so playbooks branch with ``if: not steps.verify.output.verified``;
with ``require_valid: true`` it fails the step instead, with error type ``SignatureInvalid`` (not
retried). Paths may be limited to ``MODEL_PATH_ROOTS`` (see :mod:`integrations.model.config`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from engine.sdk import ActionContext, ActionError, action
from integrations.model.config import existing_model
from integrations.model.manifest import SIGNATURE_NAME, digests, hashing_config, root_digest
from integrations.model.models import MAX_LISTED, FileDigest, HashParams, HashResult, VerifyParams
from integrations.model.verify import verify

T = TypeVar("T")
HEARTBEAT_SECONDS = 5.0


def with_heartbeat(ctx: ActionContext, work: Callable[[], T]) -> T:
    """Run ``work`` (hashing a large model can take minutes) while telling the engine we are alive."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fireline-model") as pool:
        future = pool.submit(work)
        while True:
            try:
                return future.result(timeout=HEARTBEAT_SECONDS)
            except FutureTimeout:
                ctx.heartbeat("hashing")


@action("model.hash", idempotent=True)
def hash_model(ctx: ActionContext, params: HashParams) -> dict[str, Any]:
    """Hash a model folder or file; returns {path, model_name, algorithm, digest, files, resources,
    truncated, matches}.

    ``digest`` is SHA-256 over the per-file digests, the same digest a ``model-signing`` signature
    made with the same algorithm signs, so it can be compared with a registry's record
    (``expected_digest`` → ``matches``). A ``model.sig`` at the top of a folder is left out.
    """
    model = existing_model(ctx, params.path)
    ignore = [*params.ignore_paths, SIGNATURE_NAME] if model.is_dir() else list(params.ignore_paths)
    config = hashing_config(algorithm=params.algorithm.value, ignore=ignore)
    try:
        per_file = with_heartbeat(ctx, lambda: digests(config, model))
    except OSError as exc:
        raise ActionError(f"cannot read the model: {exc}", type="ModelUnreadable", retryable=False) from None
    except ValueError as exc:  # e.g. a symbolic link in the model
        raise ActionError(f"cannot hash the model: {exc}", type="ModelUnreadable", retryable=False) from None
    digest = root_digest(per_file)
    result = HashResult(
        path=str(model),
        model_name=model.name,
        algorithm=params.algorithm,
        digest=digest,
        files=len(per_file),
        resources=[FileDigest(name=n, digest=d) for n, d in list(per_file.items())[:MAX_LISTED]],
        truncated=len(per_file) > MAX_LISTED,
        matches=None if params.expected_digest is None else digest == params.expected_digest.lower(),
    )
    return result.model_dump(mode="json")


@action("model.verify_signature", idempotent=True)
def verify_signature(ctx: ActionContext, params: VerifyParams) -> dict[str, Any]:
    """Verify a model against its signature with a public key or trusted CA certificates.

    Returns {verified, mode, path, signature, failure, reason, model_name, digest, files, modified,
    missing, added}. ``failure`` is ``model_modified`` (files listed), ``signature_invalid`` (wrong
    key, untrusted certificate, forged), ``signature_unreadable`` or ``signature_missing``.
    """
    result = with_heartbeat(ctx, lambda: verify(ctx, params))
    if not result.verified:
        ctx.logger.warning("model %s did not verify: %s", result.path, result.failure)
        if params.require_valid:
            raise ActionError(
                f"model {result.path} did not verify ({result.failure}): {result.reason}",
                type="SignatureInvalid",
                retryable=False,
            )
    return result.model_dump(mode="json")
