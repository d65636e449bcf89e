"""Where an integration's message templates live."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def templates_dir(kind: str, packaged: Path, settings: Mapping[str, Any] | None = None) -> Path:
    """``<KIND>_TEMPLATES_DIR``, else ``<playbooks dir>/templates/<kind>``, else ``packaged``.

    Settings come first, then the environment; the playbooks folder is the worker's
    ``playbooks_dir`` (or ``$FIRELINE_PLAYBOOKS_DIR``, or ``./playbooks``).
    """
    settings = settings or {}
    variable = f"{kind.upper()}_TEMPLATES_DIR"
    explicit = settings.get(variable) or os.environ.get(variable)
    if explicit:
        return Path(str(explicit))
    playbooks = settings.get("playbooks_dir") or os.environ.get("FIRELINE_PLAYBOOKS_DIR") or "playbooks"
    local = Path(str(playbooks)) / "templates" / kind
    return local if local.is_dir() else packaged
