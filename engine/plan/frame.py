"""What the conductor carries while it walks a plan: the template frame and the block-failed signal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.plan.state import StepRecord


class BlockFailed(Exception):
    """A step failed with ``on_error: fail``: its block (and every block around it) stops."""

    def __init__(self, record: StepRecord) -> None:
        self.record = record
        super().__init__(record.path)


@dataclass
class Frame:
    """The views of steps run so far plus loop variables: what templates of a step see."""

    steps: dict[str, dict[str, Any]]
    variables: dict[str, Any] = field(default_factory=dict)

    def child(self, **variables: Any) -> Frame:
        """A frame for an inner block: its own copy of the steps, plus ``variables``."""
        return Frame(steps=dict(self.steps), variables={**self.variables, **variables})
