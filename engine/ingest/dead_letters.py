"""Accepted alerts that some playbook could not start for, kept until replayed.

One JSON file per letter under ``$FIRELINE_HOME/dead-letters/``; ``fireline alerts replay ID``
hands the alert to the same playbooks again and removes the letter when they all started.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from engine.ingest.errors import DeadLetterNotFound
from engine.ingest.models import DeadLetter, Via

DIR_NAME = "dead-letters"
_ID = re.compile(r"^[0-9a-f]{12}$")


class DeadLetterStore:
    """Dead letters in a folder (or in memory when there is no home)."""

    def __init__(self, home: Path | None) -> None:
        self.folder = home / DIR_NAME if home is not None else None
        self._memory: dict[str, DeadLetter] = {}

    def put(self, alert: dict[str, Any], playbooks: list[str], reason: str, *, via: Via) -> DeadLetter:
        """Store a new letter and return it."""
        letter = DeadLetter(
            id=uuid.uuid4().hex[:12],
            at=datetime.now(UTC),
            via=via,
            playbooks=playbooks,
            reason=reason,
            alert=alert,
        )
        self.save(letter)
        return letter

    def save(self, letter: DeadLetter) -> None:
        """Write (or overwrite) ``letter``."""
        if self.folder is None:
            self._memory[letter.id] = letter
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{letter.id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(letter.model_dump_json(), encoding="utf-8")
        os.replace(tmp, path)

    def get(self, letter_id: str) -> DeadLetter:
        """The letter ``letter_id``.

        Raises:
            DeadLetterNotFound: no such letter (or a malformed id).
        """
        if not _ID.match(letter_id):
            raise DeadLetterNotFound(f"{letter_id[:40]!r} is not a dead-letter id (12 hex digits)")
        if self.folder is None:
            if letter_id in self._memory:
                return self._memory[letter_id]
            raise DeadLetterNotFound(f"no dead letter {letter_id}")
        try:
            return DeadLetter.model_validate_json((self.folder / f"{letter_id}.json").read_bytes())
        except (OSError, ValidationError):
            raise DeadLetterNotFound(f"no dead letter {letter_id}") from None

    def remove(self, letter_id: str) -> None:
        """Delete a letter (after a successful replay)."""
        self._memory.pop(letter_id, None)
        if self.folder is not None and _ID.match(letter_id):
            with contextlib.suppress(FileNotFoundError):
                (self.folder / f"{letter_id}.json").unlink()

    def list(self, limit: int = 100) -> list[DeadLetter]:
        """Letters, newest first."""
        if self.folder is None:
            letters = list(self._memory.values())
        else:
            letters = []
            for path in self.folder.glob("*.json") if self.folder.is_dir() else []:
                with contextlib.suppress(OSError, ValidationError):
                    letters.append(DeadLetter.model_validate_json(path.read_bytes()))
        letters.sort(key=lambda letter: letter.at, reverse=True)
        return letters[:limit]


def list_dead_letters(home: Path, limit: int = 100) -> list[DeadLetter]:
    """Dead letters under ``home``, newest first (for ``fireline alerts --dead``)."""
    return DeadLetterStore(home).list(limit)
