"""Where a step lives: the one step-path notion of state, approvals, notices, Slack, the console and CLI.

A step belongs to one run (one workflow). Its *path* is relative to that run (``approve``,
``contain.rotate``, ``loop[2].notify``): that is what the run's timeline, its ``decide`` Update and
its notices use. A child run (a ``playbook:`` step) also has a *prefix*, its place in the run that
started it (``breach.``), so its steps have a *qualified* path as seen from the top
(``breach.authority_approval``). A qualified path given to any ancestor is routed down, step by
step, to the run that owns the step (:func:`route`); the owning run also answers to it (:func:`local_path`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

from engine.plan.models import StepKind
from engine.plan.state import RunState


class StepAddress(BaseModel):
    """A step: the run (workflow id) that owns it, its path in that run, and that run's prefix."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    path: str
    prefix: str = ""

    @property
    def qualified(self) -> str:
        """The path as seen from the top-level run (``breach.authority_approval``)."""
        return f"{self.prefix}{self.path}"


_INDEX = re.compile(r"\[\d+\]")
_ON_FAILURE = re.compile(r"(^|\.)on_failure\.")


def generic_path(path: str) -> str:
    """``revoke_keys[1].revoke`` → ``revoke_keys.revoke``: every item of a loop."""
    return _INDEX.sub("", path)


def bare_path(path: str) -> str:
    """``on_failure.alert`` → ``alert``: ids are unique in a playbook, so the id alone still names
    the step (``breach.on_failure.page`` → ``breach.page``)."""
    return _ON_FAILURE.sub(r"\1", path)


def child_run_id(owner_run_id: str, qualified_path: str) -> str:
    """The workflow id of the child run that the ``playbook:`` step at ``qualified_path`` starts."""
    return f"{owner_run_id}/{qualified_path}"


def local_path(state: RunState, prefix: str, path: str) -> str:
    """``path`` as the run with ``prefix`` names it: its own paths first, then its qualified ones."""
    if state.step(path) is None and prefix and path.startswith(prefix):
        return path[len(prefix) :]
    return path


def route(state: RunState, path: str) -> tuple[str, str] | None:
    """The child run that owns ``path`` and the rest of the path in it, or None when ``state`` owns it.

    ``path`` is a qualified path relative to ``state``'s run: its first part names a ``playbook:``
    step (``breach``), the rest a step of the child that step started (``authority_approval``).
    The longest match wins, so loop and parallel paths (``each[1].child.x``) route too.
    """
    if state.step(path) is not None:
        return None
    heads = [
        (len(record.path) + 1, record.child_run)
        for record in state.steps
        if record.kind is StepKind.PLAYBOOK and record.child_run and path.startswith(f"{record.path}.")
    ]
    if not heads:
        return None
    cut, child = max(heads, key=lambda head: head[0])
    return child, path[cut:]


_Entry = TypeVar("_Entry")


def find_by_path(entries: Mapping[str, _Entry], path: str) -> _Entry | None:
    """The entry for the step at ``path``: the exact item's first, then every item's
    (``per_key.approve``), each by path or by bare id path (``alert`` for ``on_failure.alert``)."""
    for candidate in (path, generic_path(path)):
        found = entries.get(candidate) or next(
            (entry for key, entry in entries.items() if bare_path(key) == bare_path(candidate)), None
        )
        if found is not None:
            return found
    return None
