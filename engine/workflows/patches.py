"""Which changes to the workflow a run was recorded with.

Each ``workflow.patched(X)`` a new run reaches writes a marker and a ``TemporalChangeVersion``
search-attribute upsert (a visibility write on the server). A run started since
:data:`~engine.workflows.types.FEATURES_PATCH` records one marker for every patch it covers; a run
recorded before it replays each of those patches as it was recorded.
"""

from __future__ import annotations

from temporalio import workflow

from engine.workflows.types import FEATURES_PATCH


class Patches:
    """``applies(X)`` in place of ``workflow.patched(X)`` for the patches ``FEATURES_PATCH`` covers."""

    def __init__(self) -> None:
        self._covered: bool | None = None

    def applies(self, patch_id: str) -> bool:
        """True when the run takes the patched path (recorded so, or started since)."""
        # The first call is the first line of the run, so where the marker sits is fixed.
        if self._covered is None:
            self._covered = workflow.patched(FEATURES_PATCH)
        return self._covered or workflow.patched(patch_id)
