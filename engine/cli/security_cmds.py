"""Data-protection commands: codec keys and the codec server."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import yaml

from engine.cli.common import load_settings
from engine.codec import AesGcmCodec, load_keys, new_key
from engine.errors import ConfigError


def codec_key() -> None:
    """Print a new base64 AES-256 key for the codec keys file."""
    typer.echo(new_key())


def codec_server(
    listen: Annotated[str, typer.Option(help="host:port to serve on.")] = "127.0.0.1:8788",
    token_env: Annotated[str, typer.Option(help="Variable holding the bearer token.")] = (
        "FIRELINE_CODEC_TOKEN"
    ),
    origin: Annotated[list[str] | None, typer.Option(help="Web UI origin allowed (repeatable).")] = None,
    namespace: Annotated[list[str] | None, typer.Option(help="Namespaces served (default: any).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="fireline.yaml to read.")] = None,
) -> None:
    """Serve the Temporal Web UI's remote codec endpoint for people allowed to decrypt."""
    import uvicorn

    from engine.codec_server import codec_app

    settings = load_settings(config)
    protection = settings.data_protection
    if protection.codec_keys_file is None:
        raise ConfigError("data_protection.codec_keys_file is not set: there is nothing to decrypt with")
    token = os.environ.get(token_env, "")
    if not token:
        raise ConfigError(f"${token_env} is not set: the codec server never runs without a token")
    keys = load_keys(protection.codec_keys_file)
    codec = AesGcmCodec(keys, protection.codec_active_key or sorted(keys)[-1])
    app = codec_app(codec, token, allowed_origins=origin or [], namespaces=namespace or [])
    host, _, port = listen.rpartition(":")
    uvicorn.run(app, host=host.strip("[]"), port=int(port), log_level="warning")


class RoleName(StrEnum):
    """Roles a console or API token can carry."""

    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"


def token(
    user: Annotated[str, typer.Option(help="User id as approver lists name it (user:<id> without 'user:').")],
    role: Annotated[RoleName, typer.Option(help="viewer, responder or admin.")] = RoleName.RESPONDER,
    config: Annotated[Path | None, typer.Option("--config", help="fireline.yaml to read.")] = None,
) -> None:
    """Create a console/API token: prints it once, stores only its sha256 in the tokens file."""
    from engine.access.tokens import new_token

    settings = load_settings(config)
    path = settings.access.tokens_file or settings.home.resolve() / "tokens.yaml"
    existing = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if not isinstance(existing, dict):
        raise ConfigError(f"{path}: expected a mapping of token hash → {{user, role}}")
    value, digest = new_token()
    existing[digest] = {"user": user.removeprefix("user:"), "role": role.value}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        yaml.safe_dump(existing, handle)
    typer.echo(value)
    typer.echo(f"stored its hash for {user} ({role.value}) in {path}", err=True)


def register(app: typer.Typer) -> None:
    """Add the data-protection and access commands to ``app``."""
    app.command("codec-key")(codec_key)
    app.command("codec-server")(codec_server)
    app.command("token")(token)
