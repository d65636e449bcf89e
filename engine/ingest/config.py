"""Receiver credentials and limits, read from the environment (and a local secret file).

Variables:

- ``FIRELINE_WEBHOOK_SECRET``: HMAC secret for ``X-Fireline-Signature`` (all sources). When unset,
  ``$FIRELINE_HOME/webhook-secret`` is used if it exists (``fireline up`` can create it with
  :func:`ensure_webhook_secret`, so the local stack is never open).
- ``FIRELINE_WEBHOOK_TOKEN``: bearer token for senders that cannot sign (Kibana), all sources.
- ``FIRELINE_WEBHOOK_TOKEN_<SOURCE>`` (``ELASTIC``, ``ALERTMANAGER``, ``GENERIC``): a token for one
  source only; set it empty to refuse bearer tokens for that source.
- ``FIRELINE_RECEIVER_RATE`` / ``FIRELINE_RECEIVER_BURST``: accepted requests per second and burst,
  per source.
- ``FIRELINE_RECEIVER_SPOOL``: ``1`` (the default) answers 202 once an alert is stored durably in
  ``$FIRELINE_HOME/spool/`` and starts its runs in the background; ``0`` answers only after Temporal
  has started or joined every run.
- ``FIRELINE_RECEIVER_HANDOVER_NICE``: how many ``nice`` steps (0–19, default 10) below the receiver
  its hand-over process runs; 0 gives both the same CPU priority.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from engine.alerts.model import AlertSource
from engine.errors import ConfigError

ENV_SECRET = "FIRELINE_WEBHOOK_SECRET"
ENV_TOKEN = "FIRELINE_WEBHOOK_TOKEN"
ENV_RATE = "FIRELINE_RECEIVER_RATE"
ENV_BURST = "FIRELINE_RECEIVER_BURST"
ENV_SPOOL = "FIRELINE_RECEIVER_SPOOL"
ENV_HANDOVER_NICE = "FIRELINE_RECEIVER_HANDOVER_NICE"
#: How many ``nice`` steps below the receiver its hand-over process runs unless configured.
DEFAULT_HANDOVER_NICE = 10
SECRET_FILE = "webhook-secret"

#: Sources the HTTP receiver accepts, each at ``POST /alerts/<source>``.
RECEIVER_SOURCES: tuple[AlertSource, ...] = (
    AlertSource.ELASTIC,
    AlertSource.ALERTMANAGER,
    AlertSource.GENERIC,
)


class ReceiverConfig(BaseModel):
    """What the receiver accepts and how much; ``repr`` never shows a secret."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    webhook_secret: SecretStr | None = None
    tokens: dict[AlertSource, SecretStr] = Field(default_factory=dict)
    max_body_bytes: int = Field(1024 * 1024, gt=0)
    replay_window_s: float = Field(300.0, gt=0)
    rate_per_s: float = Field(200.0, gt=0)
    rate_burst: int = Field(1000, gt=0)
    body_timeout_s: float = Field(10.0, gt=0)
    dispatch_timeout_s: float = Field(20.0, gt=0)
    max_concurrent_starts: int = Field(64, gt=0)
    recent_alerts: int = Field(1000, gt=0)
    #: Acknowledge once spooled on disk (``fireline up``'s default) instead of after Temporal answered.
    spool: bool = False
    #: How far below the receiver's CPU priority its hand-over process runs (``nice`` steps).
    handover_nice: int = Field(DEFAULT_HANDOVER_NICE, ge=0, le=19)

    @property
    def has_credentials(self) -> bool:
        """True when at least one way to authenticate is configured."""
        return self.webhook_secret is not None or bool(self.tokens)

    @classmethod
    def from_env(cls, home: Path | None = None, environ: Mapping[str, str] | None = None) -> ReceiverConfig:
        """Read the variables above; ``home`` is where a generated secret file may live.

        Raises:
            ConfigError: a rate or burst that is not a positive number.
        """
        env = os.environ if environ is None else environ
        secret = env.get(ENV_SECRET) or _read_secret_file(home)
        general = env.get(ENV_TOKEN) or None
        tokens: dict[AlertSource, SecretStr] = {}
        for source in RECEIVER_SOURCES:
            specific = env.get(f"{ENV_TOKEN}_{source.value.upper()}")
            token = general if specific is None else specific
            if token:
                tokens[source] = SecretStr(token)
        extra: dict[str, float] = {}
        for name, field in ((ENV_RATE, "rate_per_s"), (ENV_BURST, "rate_burst")):
            raw = env.get(name)
            if raw:
                try:
                    extra[field] = float(raw)
                except ValueError:
                    raise ConfigError(f"{name} must be a number, got {raw[:20]!r}") from None
                if extra[field] <= 0:
                    raise ConfigError(f"{name} must be positive")
        spool = env.get(ENV_SPOOL, "1").strip().lower()
        if spool not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
            raise ConfigError(f"{ENV_SPOOL} must be 1 or 0, got {spool[:20]!r}")
        nice = env.get(ENV_HANDOVER_NICE, str(DEFAULT_HANDOVER_NICE)).strip()
        if not nice.isdigit() or int(nice) > 19:
            raise ConfigError(f"{ENV_HANDOVER_NICE} must be a whole number 0-19, got {nice[:20]!r}")
        return cls(
            webhook_secret=SecretStr(secret) if secret else None,
            tokens=tokens,
            spool=spool in ("1", "true", "yes", "on"),
            handover_nice=int(nice),
            **{k: (int(v) if k == "rate_burst" else v) for k, v in extra.items()},
        )


def _read_secret_file(home: Path | None) -> str | None:
    if home is None:
        return None
    try:
        text = (home / SECRET_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None


def webhook_secret(home: Path | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The signing secret a sender uses: ``FIRELINE_WEBHOOK_SECRET``, else the local secret file."""
    env = os.environ if environ is None else environ
    return env.get(ENV_SECRET) or _read_secret_file(home)


def ensure_webhook_secret(home: Path) -> str:
    """The local signing secret under ``home``, created (mode 0600) when missing."""
    existing = _read_secret_file(home)
    if existing:
        return existing
    home.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    path = home / SECRET_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value
