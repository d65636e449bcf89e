"""The audit chain of a run: complete, ordered, and any tampering is named."""

from __future__ import annotations

from pathlib import Path

from engine.plan.audit import verify_chain
from engine.rehearsal.simulated import simulate
from tests.rehearsal_cases import load_case

CASES = Path(__file__).parents[1] / "rehearsals"


async def chain_of(case_name: str) -> list:  # type: ignore[type-arg]
    case = load_case(CASES / case_name)
    _, executor = await simulate(case.plan, case.alert, case.mocks)
    return [executor.audit[k] for k in sorted(executor.audit)]


async def test_a_run_leaves_an_unbroken_chain_with_every_step_and_decision() -> None:
    events = await chain_of("contain-with-retries")
    assert verify_chain("simulated-run", events).ok
    actions = [e.action for e in events]
    assert actions[0] == "run.started" and actions[-1] == "run.finished"
    assert actions.count("step.started") == actions.count("step.finished")
    decided = [e for e in events if e.action == "approval.decided"]
    assert [(d.actor, d.outcome, d.detail["reason"]) for d in decided] == [
        ("user:U024BE7LH", "approve", "evidence is clear")
    ]
    failed_item = [e for e in events if e.action == "step.finished" and e.step == "revoke_keys[1].revoke"]
    assert failed_item[0].outcome == "failed" and "denied" in failed_item[0].detail["error"]


async def test_altered_missing_and_reordered_events_are_named() -> None:
    events = await chain_of("rejected-approval")
    altered = [e.model_copy(deep=True) for e in events]
    altered[3].actor = "user:mallory"
    report = verify_chain("r", altered)
    assert not report.ok and report.broken_at == 4 and "altered" in report.reason

    missing = events[:2] + events[3:]
    report = verify_chain("r", missing)
    assert not report.ok and report.broken_at == 3 and "missing" in report.reason

    forged = [e.model_copy(deep=True) for e in events]
    forged[5].prev_hash = forged[3].hash
    forged[5].hash = forged[5].digest()  # a consistent forgery still breaks the link
    report = verify_chain("r", forged)
    assert not report.ok and report.broken_at == 6 and "does not follow" in report.reason


def test_no_events_is_not_a_proof() -> None:
    report = verify_chain("nothing", [])
    assert not report.ok and "no audit events" in report.reason


def _forked_trail(note_reset: bool) -> list:  # type: ignore[type-arg]
    """A run that failed at its third event, was reset to just after its second, and re-ran."""
    from datetime import UTC, datetime, timedelta

    from engine.plan.audit import AuditChain

    t0 = datetime(2026, 12, 6, tzinfo=UTC)
    first = AuditChain("run-1", "pb", 1, "abc")
    a = first.append(t0, "run.started")
    b = first.append(t0 + timedelta(seconds=1), "step.finished", step="evidence", outcome="succeeded")
    old = [
        first.append(t0 + timedelta(seconds=2), "step.finished", step="quarantine", outcome="failed"),
        first.append(t0 + timedelta(seconds=3), "run.finished", outcome="failed"),
    ]
    # The re-run replays the same first two events, then goes on differently from there.
    second = AuditChain("run-1", "pb", 1, "abc")
    second.seq, second.last_hash = b.seq, b.hash
    later = t0 + timedelta(hours=1)
    if note_reset:
        second.append(later, "run.reset", step="quarantine", actor="user:U1", detail={"reason": "back up"})
    second.append(later, "step.finished", step="quarantine", outcome="succeeded")
    second.append(later, "step.finished", step="after", outcome="succeeded")
    second.append(later, "run.finished", outcome="succeeded")
    return [a, b, *old, *second.pending[-(4 if note_reset else 3) :]]


def test_a_reset_forks_the_trail_and_both_branches_verify() -> None:
    report = verify_chain("run-1", _forked_trail(note_reset=True))
    assert report.ok, report.reason
    assert (report.events, report.current, report.forks, report.resets) == (8, 6, 1, 1)


def test_a_fork_without_a_reset_note_is_refused() -> None:
    report = verify_chain("run-1", _forked_trail(note_reset=False))
    assert not report.ok and report.broken_at == 3 and "without a run.reset" in report.reason
