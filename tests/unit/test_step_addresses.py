"""Step paths: a decision addressed from the top run reaches the child run that owns the step."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.errors import RehearsalError
from engine.plan.addresses import bare_path, child_run_id, local_path, route
from engine.plan.models import StepKind
from engine.plan.state import RunState, StepRecord, StepStatus
from engine.rehearsal.models import Mocks
from engine.rehearsal.runner import check_mocks
from tests.rehearsal_cases import CASES_DIR, load_case

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def run(run_id: str, *records: tuple[str, StepKind, str | None]) -> RunState:
    steps = [
        StepRecord(path=path, id=path.rsplit(".", 1)[-1], kind=kind, started_at=NOW, child_run=child)
        for path, kind, child in records
    ]
    for record in steps:
        record.status = StepStatus.RUNNING if record.kind is StepKind.PLAYBOOK else StepStatus.WAITING
    return RunState(run_id=run_id, playbook="p", version=1, sha256="0", started_at=NOW, steps=steps)


def test_a_qualified_path_routes_to_the_child_run_that_owns_it() -> None:
    root = run(
        "incident-1",
        ("contain", StepKind.ACTION, None),
        ("breach", StepKind.PLAYBOOK, child_run_id("incident-1", "breach")),
        ("each[1].review", StepKind.PLAYBOOK, child_run_id("incident-1", "each[1].review")),
    )
    assert route(root, "breach.authority_approval") == ("incident-1/breach", "authority_approval")
    assert route(root, "breach.review.compile") == (
        "incident-1/breach",
        "review.compile",
    )  # one hop at a time
    assert route(root, "each[1].review.approve") == ("incident-1/each[1].review", "approve")
    assert route(root, "contain") is None  # its own step
    assert route(root, "nothing.here") is None  # nobody else owns it: the run's refusal says what is pending


def test_a_child_run_answers_to_its_own_and_its_qualified_paths() -> None:
    child = run("incident-1/breach", ("authority_approval", StepKind.APPROVAL, None))
    assert local_path(child, "breach.", "authority_approval") == "authority_approval"
    assert local_path(child, "breach.", "breach.authority_approval") == "authority_approval"
    assert local_path(child, "", "breach.authority_approval") == "breach.authority_approval"


def test_on_failure_steps_have_a_bare_id_path() -> None:
    assert bare_path("on_failure.page") == "page"
    assert bare_path("breach.on_failure.page") == "breach.page"
    assert bare_path("loop[1].on_failure_count") == "loop[1].on_failure_count"  # a step id, not the block


def test_mocks_may_name_on_failure_steps_by_id_and_items_stay_items() -> None:
    mocks = Mocks.model_validate(
        {"actions": {"alert_humans": {"output": {"sent": True}}, "loop[1].revoke": {"output": 1}}}
    )
    found = mocks.for_path("on_failure.alert_humans")
    assert found is not None and found.output == {"sent": True}
    assert mocks.for_path("loop[0].revoke") is None  # a mock of item 1 is not a mock of item 0


def test_mocks_that_name_no_step_are_refused() -> None:
    case = load_case(CASES_DIR / "failure-handler")
    check_mocks(case.plan, case.mocks)  # bare on_failure ids are accepted
    wrong = case.mocks.model_copy(
        update={"actions": {**case.mocks.actions, "alert_human": case.mocks.actions["alert_humans"]}}
    )
    with pytest.raises(RehearsalError, match="not actions of this playbook: alert_human"):
        check_mocks(case.plan, wrong)
