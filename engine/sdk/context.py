"""What an action receives besides its parameters."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import SecretMissing


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

    def optional_secret(self, name: str) -> str | None:
        """Return the secret ``name`` or ``None`` when it is not configured."""
        return self.secrets.get(name)
