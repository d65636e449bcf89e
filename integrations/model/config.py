"""Settings of the model integrity actions and checks on the paths they are given.

Settings (``ctx.settings`` first, then the environment):

- ``MODEL_SIGNING_PUBLIC_KEY``: PEM public key used when a step names neither a key nor a chain;
- ``MODEL_SIGNING_CERTIFICATE_CHAIN``: CA certificates (PEM files, ``os.pathsep``-separated) used
  likewise for certificate mode;
- ``MODEL_PATH_ROOTS``: when set (``os.pathsep``-separated folders), model and signature paths must
  lie inside one of them. Paths can come from alert data; this keeps a hostile alert from making a
  worker read and hash arbitrary files.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.sdk import ActionContext, ActionError

PUBLIC_KEY = "MODEL_SIGNING_PUBLIC_KEY"
CERTIFICATE_CHAIN = "MODEL_SIGNING_CERTIFICATE_CHAIN"
PATH_ROOTS = "MODEL_PATH_ROOTS"


def split_paths(value: str | None) -> list[str]:
    """An ``os.pathsep``-separated list, without empty entries."""
    return [p for p in (value or "").split(os.pathsep) if p]


def allowed_path(ctx: ActionContext, raw: str, *, what: str) -> Path:
    """``raw`` resolved (symlinks followed), refused when outside ``MODEL_PATH_ROOTS``.

    Raises:
        ActionError: ``PathNotAllowed`` (not retryable).
    """
    path = Path(raw).expanduser().resolve()
    roots = [Path(r).expanduser().resolve() for r in split_paths(ctx.setting(PATH_ROOTS))]
    if roots and not any(path == root or path.is_relative_to(root) for root in roots):
        raise ActionError(
            f"{what} {raw!r} is outside the folders allowed by {PATH_ROOTS}",
            type="PathNotAllowed",
            retryable=False,
        )
    return path


def existing_model(ctx: ActionContext, raw: str) -> Path:
    """The model path, checked against the roots and required to exist."""
    path = allowed_path(ctx, raw, what="model path")
    if not path.exists():
        raise ActionError(f"no model at {raw!r}", type="ModelNotFound", retryable=False)
    return path


def default_signature(model: Path) -> Path:
    """Where ``model-signing`` users keep the signature: ``model.sig`` inside a model folder, or
    ``<file>.sig`` beside a single-file model."""
    return model / "model.sig" if model.is_dir() else model.with_name(model.name + ".sig")
