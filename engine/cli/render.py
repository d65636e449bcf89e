"""Print timelines and run lists with rich."""

from __future__ import annotations

import json
from datetime import datetime

from rich.console import Console
from rich.table import Table

from engine.plan.state import RunState, StepRecord, StepStatus

_COLORS = {
    StepStatus.SUCCEEDED: "green",
    StepStatus.FAILED: "red",
    StepStatus.REJECTED: "magenta",
    StepStatus.TIMED_OUT: "yellow",
    StepStatus.SKIPPED: "dim",
    StepStatus.WAITING: "cyan",
    StepStatus.RUNNING: "blue",
    StepStatus.CANCELLED: "dim red",
}


def _time(value: datetime | None) -> str:
    return value.strftime("%H:%M:%S") if value else ""


def _duration(record: StepRecord) -> str:
    if record.finished_at is None:
        return ""
    seconds = (record.finished_at - record.started_at).total_seconds()
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _detail(record: StepRecord) -> str:
    approval = record.approval
    if approval is not None:
        if approval.decision is None:
            editable = f" (editable: {', '.join(sorted(approval.editable))})" if approval.editable else ""
            return f"waiting for {', '.join(approval.approvers)}: {approval.title}{editable}"
        text = f"{approval.decision.value} by {approval.decided_by}"
        if approval.decided_at:
            text += f" at {_time(approval.decided_at)}"
        if approval.reason:
            text += f": {approval.reason}"
        if approval.escalated_at:
            text += " (escalated)"
        for name, value in sorted(approval.edits.items()):
            was = json.dumps(approval.editable.get(name))
            text += f"; edited {approval.guards}.{name}: {was} -> {json.dumps(value)}"
        return text
    if record.edited_args:
        return f"ran with edited {', '.join(sorted(record.edited_args))}; {record.output_summary}"
    if record.error:
        return f"{record.error_type}: {record.error}"
    if record.child_run:
        return f"child run {record.child_run}"
    return record.output_summary


def timeline_table(state: RunState) -> Table:
    """The run's timeline as a table."""
    title = f"{state.run_id}  {state.playbook} v{state.version}  [{state.status.value}]"
    table = Table(title=title, title_justify="left", expand=False)
    for column in ("step", "status", "started", "took", "tries", "detail"):
        table.add_column(column)
    for record in state.steps:
        color = _COLORS.get(record.status, "")
        table.add_row(
            record.path,
            f"[{color}]{record.status.value}[/]",
            _time(record.started_at),
            _duration(record),
            str(len(record.attempts) or ""),
            _detail(record),
        )
    return table


def print_run(console: Console, state: RunState) -> None:
    """Timeline, then outcome."""
    console.print(f"[bold]{state.alert_title or state.alert_id}[/] (severity {state.severity or '-'})")
    console.print(f"playbook sha256 {state.sha256[:16]}…")
    console.print(timeline_table(state))
    for attempt_line in _attempt_lines(state):
        console.print(attempt_line)
    if state.joined_alerts:
        console.print(f"{len(state.joined_alerts)} repeat alert(s) joined this run")
    if state.continuations:
        console.print(f"continued as new {state.continuations} time(s) while parked (fresh histories)")
    for reset in state.resets:
        before = (
            f" after it had failed: {reset.previous_failure['message']}" if reset.previous_failure else ""
        )
        console.print(
            f"re-run from {reset.step} by {reset.by} at {reset.at:%Y-%m-%d %H:%M:%S}Z "
            f"({reset.reason}){before}",
            markup=False,
        )
    if state.failure:
        console.print(f"[red]failed at {state.failure['step']}: {state.failure['message']}[/]")
    if state.outputs:
        console.print(f"outputs: {state.outputs}")


def _attempt_lines(state: RunState) -> list[str]:
    lines = []
    for record in state.steps:
        for attempt in record.attempts:
            if attempt.error:
                lines.append(
                    f"  {record.path} attempt {attempt.number}: {attempt.error_type}: {attempt.error}"
                )
    return lines
