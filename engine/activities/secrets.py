"""Resolve secrets inside activities, from the environment or from files named in configuration."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from engine.errors import SecretMissing


def resolve_secrets(
    required: Iterable[str],
    optional: Iterable[str] = (),
    *,
    environ: Mapping[str, str] | None = None,
    secrets_dir: Path | None = None,
) -> dict[str, str]:
    """Look each secret up as ``$NAME``, then the file ``$NAME_FILE``, then ``secrets_dir/NAME``.

    Raises:
        SecretMissing: when a required secret is found nowhere (the message names it, never a value).
    """
    env = os.environ if environ is None else environ
    found: dict[str, str] = {}
    for name, needed in [*((n, True) for n in required), *((n, False) for n in optional)]:
        value = _lookup(name, env, secrets_dir)
        if value is not None:
            found[name] = value
        elif needed:
            raise SecretMissing(
                f"secret {name} is not configured: "
                f"set ${name}, ${name}_FILE, or a file {name} in the secrets folder"
            )
    return found


def _lookup(name: str, env: Mapping[str, str], secrets_dir: Path | None) -> str | None:
    if env.get(name):
        return env[name]
    file_name = env.get(f"{name}_FILE")
    candidates = [Path(file_name)] if file_name else []
    if secrets_dir is not None:
        candidates.append(secrets_dir / name)
    for path in candidates:
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError:
            continue
    return None
