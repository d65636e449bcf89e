"""Helpers shared by CLI commands."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from engine.alerts.model import Alert
from engine.errors import AlertInvalid, ConfigError
from engine.settings import Settings

T = TypeVar("T")
# Timelines are wide; logs and CI are not terminals, so give them room instead of wrapping.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)


def load_settings(config: Path | None) -> Settings:
    """Settings from ``config`` / ``fireline.yaml`` / environment."""
    return Settings.load(config)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from a synchronous command."""

    return asyncio.run(coro)


def read_alert(path: Path) -> dict[str, Any]:
    """A normalized alert from a JSON file, as template data."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read alert: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise AlertInvalid(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    try:
        return Alert.model_validate(raw).template_view()
    except ValueError as exc:
        first = str(exc).splitlines()[1:3]
        raise AlertInvalid(f"{path}: not a normalized alert: {' '.join(first)}") from None


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    """``k=v`` options into a mapping."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--input {pair!r}: expected key=value")
        out[key.strip()] = value
    return out
