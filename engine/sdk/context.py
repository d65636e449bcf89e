"""What an action receives besides its parameters."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ActionError, SecretMissing


@dataclass(frozen=True)
class ActionContext:
    """Run facts and resolved secrets for one action attempt.

    Secrets are resolved inside the activity from configuration; they never
    travel through workflow history.
    """

    run_id: str
    workflow_id: str
    playbook: str
    step_path: str
    attempt: int
    idempotency_key: str
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    settings: Mapping[str, Any] = field(default_factory=dict)
    heartbeat: Callable[..., None] = field(default=lambda *details: None, repr=False)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("fireline.action"))

    def secret(self, name: str) -> str:
        """Return the secret ``name`` or raise :class:`SecretMissing`."""
        try:
            return self.secrets[name]
        except KeyError:
            raise SecretMissing(f"secret {name!r} is not configured for {self.step_path}") from None

    def setting(self, name: str) -> str | None:
        """A non-secret setting: the worker's configuration (exact or lower-case name), else the
        environment; an empty value counts as unset."""
        value = self.settings.get(name, self.settings.get(name.lower()))
        if value is None:
            value = os.environ.get(name)
        return str(value) if value not in (None, "") else None

    def setting_file(self, name: str) -> str | None:
        """A setting that names a file (e.g. a CA bundle); a path that is not a readable file is refused."""
        path = self.setting(name)
        if path is not None and not Path(path).is_file():
            raise ActionError(
                f"{name} points at {path!r}, which is not a readable file",
                type="NotConfigured",
                retryable=False,
            )
        return path

    def setting_seconds(self, name: str, default: float) -> float:
        """A positive number of seconds (e.g. a timeout), ``default`` when unset."""
        text = self.setting(name)
        try:
            value = float(text) if text is not None else default
        except ValueError:
            value = -1.0
        if value <= 0:
            raise ActionError(
                f"{name} must be a positive number of seconds, got {text!r}",
                type="NotConfigured",
                retryable=False,
            )
        return value

    def optional_secret(self, name: str) -> str | None:
        """Return the secret ``name`` or ``None`` when it is not configured."""
        return self.secrets.get(name)
