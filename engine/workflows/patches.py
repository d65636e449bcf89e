"""Which changes to the workflow a run was recorded with.

Each ``workflow.patched(X)`` a new run reaches writes a marker and a ``TemporalChangeVersion``
search-attribute upsert (a visibility write on the server). A run started since a bundle
(:data:`~engine.workflows.types.FEATURES_PATCH`) records one marker for every patch it covers; a run
recorded before it replays each of those patches as it was recorded.
"""

from __future__ import annotations

from temporalio import workflow

from engine.workflows.types import (
    AUDIT_LOCAL_PATCH,
    AUDIT_PATCH,
    BACKGROUND_NOTICES_PATCH,
    CONTINUE_AS_NEW_PATCH,
    DECIDED_NEEDS_MESSAGE_PATCH,
    EARLIER_FEATURES_PATCH,
    FEATURES_PATCH,
    LEAN_MEMO_PATCH,
    NOTICES_PATCH,
    RESET_NOTE_PATCH,
)

#: Stands for "every patch": the newest bundle covers them all.
_EVERY: frozenset[str] = frozenset({"*"})
#: What the earlier bundle covers: every patch before the audit outbox.
_EARLIER = frozenset(
    {
        NOTICES_PATCH,
        BACKGROUND_NOTICES_PATCH,
        LEAN_MEMO_PATCH,
        DECIDED_NEEDS_MESSAGE_PATCH,
        AUDIT_PATCH,
        AUDIT_LOCAL_PATCH,
        RESET_NOTE_PATCH,
        CONTINUE_AS_NEW_PATCH,
    }
)


class Patches:
    """``applies(X)`` in place of ``workflow.patched(X)`` for the patches the bundles cover."""

    def __init__(self) -> None:
        self._covered: frozenset[str] | None = None

    def applies(self, patch_id: str) -> bool:
        """True when the run takes the patched path (recorded so, or started since)."""
        # The first call is the first line of the run, so where the marker sits is fixed. A new run
        # records only the newest bundle; a recorded one finds the bundle it was recorded with.
        if self._covered is None:
            if workflow.patched(FEATURES_PATCH):
                self._covered = _EVERY
            elif workflow.patched(EARLIER_FEATURES_PATCH):
                self._covered = _EARLIER
            else:
                self._covered = frozenset()
        return self._covered is _EVERY or patch_id in self._covered or workflow.patched(patch_id)
