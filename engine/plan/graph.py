"""Render a plan's step graph as Mermaid, for reviewers in pull requests."""

from __future__ import annotations

from engine.plan.models import Plan, PlanStep, StepKind


def _label(text: str) -> str:
    return text.replace('"', "'").replace("\n", " ")[:80]


class _Mermaid:
    def __init__(self) -> None:
        self.lines: list[str] = ["flowchart TD"]
        self.counter = 0

    def node(self, step: PlanStep, node_id: str) -> None:
        title = _label(step.name or step.id)
        if step.kind is StepKind.ACTION:
            self.lines.append(f'    {node_id}["{title}<br/><i>{step.action}</i>"]')
        elif step.kind is StepKind.APPROVAL:
            approvers = ", ".join(step.approval.approvers) if step.approval else ""
            self.lines.append(f'    {node_id}{{{{"✋ approval: {title}<br/>{_label(approvers)}"}}}}')
            self.lines.append(f"    class {node_id} approval")
        elif step.kind is StepKind.WAIT:
            what = f"{step.wait_s:g}s" if step.wait_s is not None else _label(step.wait_until or "")
            self.lines.append(f'    {node_id}(["⏱ wait {what}"])')
        elif step.kind is StepKind.PLAYBOOK:
            self.lines.append(f'    {node_id}[["▶ playbook {step.playbook}"]]')
        else:
            self.lines.append(f'    {node_id}["{title}"]')

    def edge(self, src: str, dst: str, label: str = "") -> None:
        arrow = f"-->|{_label(label)}|" if label else "-->"
        self.lines.append(f"    {src} {arrow} {dst}")

    def block(self, steps: list[PlanStep], prefix: str, entry: str | None) -> str | None:
        """Draw ``steps`` in order after ``entry``; return the id of the last node."""
        last = entry
        for step in steps:
            node_id = f"{prefix}{step.id}"
            if step.kind is StepKind.FOR_EACH:
                self.lines.append(
                    f'    subgraph {node_id}_loop["🔁 for each {step.loop_var} (max {step.max_parallel})"]'
                )
                self.lines.append("    direction TB")
                self.lines.append(f'    {node_id}(("{_label(step.id)}"))')
                inner = self.block(step.children, f"{node_id}__", node_id)
                self.lines.append("    end")
                exit_id = inner or node_id
            elif step.kind is StepKind.PARALLEL:
                self.lines.append(f'    subgraph {node_id}_par["⇉ parallel {_label(step.id)}"]')
                self.lines.append(f'    {node_id}(("{_label(step.id)}"))')
                join = f"{node_id}__join"
                for child in step.children:
                    child_last = self.block([child], f"{node_id}__", node_id)
                    if child_last:
                        self.edge(child_last, join)
                self.lines.append(f"    {join}((join))")
                self.lines.append("    end")
                exit_id = join
            else:
                self.node(step, node_id)
                exit_id = node_id
            if last is not None:
                self.edge(last, node_id, f"if {step.condition}" if step.condition else "")
            if step.on_error.value == "continue":
                self.lines.append(f"    class {node_id} tolerant")
            last = exit_id
        return last


def to_mermaid(plan: Plan) -> str:
    """The plan as a Mermaid flowchart (approvals, loops and parallel blocks marked)."""
    chart = _Mermaid()
    chart.lines.append(f'    start(["{_label(plan.name)} v{plan.version}"])')
    last = chart.block(plan.steps, "", "start")
    chart.lines.append('    done(["done"])')
    if last:
        chart.edge(last, "done")
    if plan.on_failure:
        chart.lines.append('    failed(["on failure"])')
        chart.lines.append("    class failed failure")
        chart.block(plan.on_failure, "onfail__", "failed")
    chart.lines.append("    classDef approval fill:#fff3bf,stroke:#f59f00")
    chart.lines.append("    classDef failure fill:#ffe3e3,stroke:#e03131")
    chart.lines.append("    classDef tolerant stroke-dasharray: 4 2")
    return "\n".join(chart.lines) + "\n"


def actions_used(plan: Plan) -> list[str]:
    """Every action a plan may call, sorted (child playbooks not included)."""

    def walk(steps: list[PlanStep]) -> set[str]:
        found = {s.action for s in steps if s.action}
        for step in steps:
            found |= walk(step.children)
        return {a for a in found if a}

    return sorted(walk(plan.steps + plan.on_failure))
