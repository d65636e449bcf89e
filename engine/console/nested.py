"""Approvals of child runs, shown (and decided) on the page of the run that started them."""

from __future__ import annotations

import logging

from engine.console.source import RunSource
from engine.plan.models import StepKind
from engine.plan.state import RunState, StepRecord, StepStatus

log = logging.getLogger("fireline.console")
MAX_DEPTH = 8


async def pending_approvals(
    source: RunSource, state: RunState, prefix: str = "", depth: int = 0
) -> list[StepRecord]:
    """Pending approvals of ``state`` and of the child runs it is waiting on, by qualified path.

    A child's approval comes back as a copy whose ``path`` is the child's step path as seen from
    ``state`` (``breach.authority_approval``), which is what the decide form sends and
    :func:`engine.client.decide` routes to the child. A child that does not answer is left out.
    """
    found = [_qualified(r, prefix) for r in state.pending_approvals()]
    if depth >= MAX_DEPTH:
        return found
    for record in state.steps:
        if (
            record.kind is not StepKind.PLAYBOOK
            or record.status is not StepStatus.RUNNING
            or not record.child_run
        ):
            continue
        try:
            child = await source.state(record.child_run)
        except Exception as exc:  # not started yet, or Temporal slow: the next refresh shows it
            log.info("status of child run %s failed: %s", record.child_run, type(exc).__name__)
            continue
        found += await pending_approvals(source, child, f"{prefix}{record.path}.", depth + 1)
    return found


def _qualified(record: StepRecord, prefix: str) -> StepRecord:
    return record.model_copy(update={"path": f"{prefix}{record.path}"}) if prefix else record
