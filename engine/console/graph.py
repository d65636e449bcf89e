"""A run's step graph: the plan's Mermaid chart with each node classed by its step's state.

Node ids follow :func:`engine.plan.graph.to_mermaid`: a top-level step is its id, a step inside a
loop or parallel block is ``<block node>__<id>``, an ``on_failure`` step is ``onfail__<id>``. Run
timelines name the same steps by path (``loop[2].inner``, ``block.inner``, ``on_failure.x``); every
item of a loop maps onto the loop's one node, which shows the most pressing state among them.
"""

from __future__ import annotations

import re

from engine.plan.graph import to_mermaid
from engine.plan.models import Plan, PlanStep
from engine.plan.state import StepRecord, StepStatus

_INDEX = re.compile(r"\[\d+\]")

#: Most pressing first: a loop with one failed item and nine done ones shows as failed.
PRIORITY: tuple[StepStatus, ...] = (
    StepStatus.FAILED,
    StepStatus.RUNNING,
    StepStatus.WAITING,
    StepStatus.TIMED_OUT,
    StepStatus.REJECTED,
    StepStatus.CANCELLED,
    StepStatus.SUCCEEDED,
    StepStatus.SKIPPED,
)

#: Mermaid styles per state; the same colours are in console.css for the legend and the timeline.
STATE_STYLES: dict[StepStatus, str] = {
    StepStatus.RUNNING: "fill:#d0ebff,stroke:#1c7ed6,stroke-width:3px",
    StepStatus.WAITING: "fill:#ffec99,stroke:#f08c00,stroke-width:3px",
    StepStatus.SUCCEEDED: "fill:#d3f9d8,stroke:#2f9e44",
    StepStatus.FAILED: "fill:#ffc9c9,stroke:#c92a2a,stroke-width:3px",
    StepStatus.SKIPPED: "fill:#f1f3f5,stroke:#adb5bd,color:#868e96",
    StepStatus.REJECTED: "fill:#ffd8a8,stroke:#e8590c",
    StepStatus.TIMED_OUT: "fill:#e5dbff,stroke:#7048e8",
    StepStatus.CANCELLED: "fill:#e9ecef,stroke:#495057",
}


def state_class(status: StepStatus) -> str:
    """The Mermaid/CSS class of a state."""
    return f"st_{status.value}"


def node_id(path: str) -> str:
    """The graph node of a timeline path."""
    parts = _INDEX.sub("", path).split(".")
    if parts[0] == "on_failure" and len(parts) > 1:
        return "onfail__" + "__".join(parts[1:])
    return "__".join(parts)


def plan_node_ids(plan: Plan) -> set[str]:
    """Every step node :func:`to_mermaid` draws for ``plan``."""
    found: set[str] = set()

    def walk(steps: list[PlanStep], prefix: str) -> None:
        for step in steps:
            nid = f"{prefix}{step.id}"
            found.add(nid)
            walk(step.children, f"{nid}__")

    walk(plan.steps, "")
    walk(plan.on_failure, "onfail__")
    return found


def node_states(steps: list[StepRecord]) -> dict[str, StepStatus]:
    """The state each node shows."""
    seen: dict[str, set[StepStatus]] = {}
    for record in steps:
        seen.setdefault(node_id(record.path), set()).add(record.status)
    return {nid: next(s for s in PRIORITY if s in states) for nid, states in seen.items()}


def run_graph(plan: Plan, steps: list[StepRecord]) -> str:
    """``plan``'s Mermaid chart with its nodes classed by the states in ``steps``."""
    lines = [to_mermaid(plan).rstrip("\n")]
    lines += [f"    classDef {state_class(s)} {style}" for s, style in STATE_STYLES.items()]
    known = plan_node_ids(plan)
    for nid, status in sorted(node_states(steps).items()):
        if nid in known:  # a node the chart lacks would be drawn as a new, stray box
            lines.append(f"    class {nid} {state_class(status)}")
    return "\n".join(lines) + "\n"
