"""Compare a finished run with EXPECT.yaml and print the executed steps."""

from __future__ import annotations

from typing import Any

from engine.plan.state import RunState, StepRecord
from engine.rehearsal.models import Expect, generic_path


def _matching(state: RunState, path: str) -> list[StepRecord]:
    exact = [r for r in state.steps if r.path == path]
    return exact or [r for r in state.steps if generic_path(r.path) == path]


def differences(state: RunState, expect: Expect) -> list[str]:
    """Every way ``state`` differs from ``expect`` (empty when it matches)."""
    found: list[str] = []
    if expect.status is not None and state.status is not expect.status:
        found.append(f"run: expected {expect.status.value}, got {state.status.value}")
    for path, status in expect.steps.items():
        records = _matching(state, path)
        if not records:
            found.append(f"{path}: expected {status.value}, but it never ran")
        for record in records:
            if record.status is not status:
                found.append(f"{record.path}: expected {status.value}, got {record.status.value}")
    for path, count in expect.attempts.items():
        records = _matching(state, path)
        got = [len(r.attempts) for r in records] or [0]
        if any(n != count for n in got):
            found.append(f"{path}: expected {count} attempts, got {', '.join(map(str, got))}")
    for key, value in expect.outputs.items():
        if key not in state.outputs:
            found.append(f"outputs.{key}: expected {value!r}, but it is missing")
        elif state.outputs[key] != value:
            found.append(f"outputs.{key}: expected {value!r}, got {state.outputs[key]!r}")
    carried = {
        "atlas": state.classification.atlas,
        "owasp_llm": state.classification.owasp_llm,
        "rejected": [r.value for r in state.classification.rejected],
    }
    for framework, ids in expect.classification.items():
        if carried.get(framework) != ids:
            found.append(f"classification.{framework}: expected {ids!r}, got {carried.get(framework)!r}")
    for path, args in expect.edited.items():
        ran_with = [r.edited_args for r in _matching(state, path)] or [{}]
        if any(g != args for g in ran_with):
            found.append(f"{path}: expected to run with edited {args!r}, got {ran_with[0]!r}")
    if expect.continued_as_new is not None and bool(state.continuations) != expect.continued_as_new:
        found.append(
            f"continued as new: expected {'at least once' if expect.continued_as_new else 'never'}, "
            f"got {state.continuations} time(s)"
        )
    for path in expect.not_run:
        ran = [r.path for r in state.steps if r.path == path or generic_path(r.path) == path]
        ran += [r.path for r in state.steps if r.path.startswith(f"{path}.") or r.path.startswith(f"{path}[")]
        if ran:
            found.append(f"{path}: expected not to run, but it ran ({ran[0]})")
    return found


def executed_lines(state: RunState) -> list[str]:
    """One line per executed step: simulated time offset, path, status, attempts."""
    lines = []
    for record in state.steps:
        offset = (record.started_at - state.started_at).total_seconds()
        extra: list[str] = []
        if len(record.attempts) > 1:
            extra.append(f"{len(record.attempts)} attempts")
        if record.approval and record.approval.decided_by:
            extra.append(f"by {record.approval.decided_by}")
        if record.error:
            extra.append(record.error[:80])
        tail = f"  ({'; '.join(extra)})" if extra else ""
        lines.append(f"{_clock(offset):>10}  {record.path:<32} {record.status.value}{tail}")
    return lines


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"+{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"+{days}d{text[1:]}" if days else text


def summary(state: RunState) -> dict[str, Any]:
    """A JSON-ready summary."""
    return {"status": state.status.value, "steps": {r.path: r.status.value for r in state.steps}}
