"""Hash a model with ``model-signing`` and read what a signature bundle says was signed.

``model_signing`` is imported inside the functions: it pulls in sigstore and pyOpenSSL, which a
worker that never verifies a model should not pay for at start.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from integrations.model.models import HashAlgorithm

if TYPE_CHECKING:
    from model_signing.hashing import Config as HashingConfig

#: Files the ``model-signing`` CLI and these actions never count as part of a model.
SIGNATURE_NAME = "model.sig"


@dataclass(frozen=True)
class SignedStatement:
    """The in-toto statement inside a signature, read WITHOUT checking the signature.

    Only used to learn how the model was hashed (so verification hashes the same way) and, once
    the library has checked the signature, to name the files that differ.
    """

    model_name: str
    digest: str
    serialization: dict[str, Any]
    resources: dict[str, str] = field(default_factory=dict)  # file → hex digest


def read_statement(signature: Path) -> SignedStatement:
    """Parse the DSSE payload of a ``model-signing`` bundle.

    Raises:
        ValueError: the file is not such a bundle.
    """
    try:
        bundle = json.loads(signature.read_text())
        statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
        subject = statement["subject"][0]
        predicate = statement["predicate"]
        resources = {str(r["name"]): str(r["digest"]) for r in predicate.get("resources", [])}
        return SignedStatement(
            model_name=str(subject.get("name", "")),
            digest=str(subject.get("digest", {}).get("sha256", "")),
            serialization=dict(predicate["serialization"]),
            resources=resources,
        )
    except (OSError, UnicodeDecodeError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a model-signing signature bundle ({type(exc).__name__})") from None


def hashing_config(
    *,
    algorithm: str = HashAlgorithm.SHA256.value,
    method: str = "files",
    shard_size: int | None = None,
    allow_symlinks: bool = False,
    ignore: Iterable[str] = (),
) -> HashingConfig:
    """A ``model_signing.hashing.Config`` for the given serialization."""
    from model_signing import hashing

    config = hashing.Config()  # type: ignore[no-untyped-call]
    if method == "shards":
        config.use_shard_serialization(
            hashing_algorithm=algorithm,  # type: ignore[arg-type]
            shard_size=shard_size or 1_000_000_000,
            allow_symlinks=allow_symlinks,
        )
    elif method == "files":
        config.use_file_serialization(hashing_algorithm=algorithm, allow_symlinks=allow_symlinks)  # type: ignore[arg-type]
    else:
        raise ValueError(f"unknown serialization method {method!r}")
    config.set_ignored_paths(paths=sorted(set(ignore)), ignore_git_paths=True)
    return config.set_allow_symlinks(allow_symlinks)


def config_for(statement: SignedStatement, ignore: Iterable[str]) -> HashingConfig:
    """The hashing configuration a signature was made with, plus ``ignore``."""
    s = statement.serialization
    return hashing_config(
        algorithm=str(s.get("hash_type", "sha256")),
        method=str(s.get("method", "files")),
        shard_size=int(s["shard_size"]) if "shard_size" in s else None,
        allow_symlinks=bool(s.get("allow_symlinks", False)),
        ignore=[*map(str, s.get("ignore_paths", [])), *ignore],
    )


def digests(config: HashingConfig, model: Path) -> dict[str, str]:
    """Hash ``model``: file (or shard) name → hex digest, in the manifest's canonical order."""
    manifest = config.hash(model)
    return {rd.identifier: rd.digest.digest_hex for rd in manifest.resource_descriptors()}


def root_digest(per_file: dict[str, str]) -> str:
    """SHA-256 over the per-file digests in manifest order: the model digest a signature signs."""
    hasher = hashlib.sha256()
    for digest in per_file.values():
        hasher.update(bytes.fromhex(digest))
    return hasher.hexdigest()


def relative_inside(model: Path, other: Path) -> str | None:
    """``other`` relative to the model folder, or ``None`` when it lies outside."""
    if not model.is_dir():
        return None
    try:
        return str(other.resolve().relative_to(model.resolve()))
    except ValueError:
        return None
