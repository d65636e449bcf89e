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
