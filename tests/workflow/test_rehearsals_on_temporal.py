"""The same YAML cases through the real PlaybookRun workflow on the time-skipping server."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from engine.errors import RehearsalError
from engine.rehearsal.models import Mocks
from engine.rehearsal.runner import rehearse
from tests.rehearsal_cases import CASE_DIRS, load_case


@pytest.mark.parametrize("folder", CASE_DIRS, ids=[p.name for p in CASE_DIRS])
async def test_case_on_temporal(folder: Path, skipping_env: WorkflowEnvironment) -> None:
    case = load_case(folder)
    report = await rehearse(case.plan, case.alert, case.mocks, case.expect, env=skipping_env)
    assert report.differences == []


async def test_days_long_waits_finish_in_seconds(skipping_env: WorkflowEnvironment) -> None:
    case = load_case(CASE_DIRS[0].parent / "breach-deadline")
    soon = await skipping_env.get_current_time() + timedelta(
        days=10
    )  # the deadline is then ~13 days away: a real, long wait
    alert = dict(case.alert, occurred_at=soon.strftime("%Y-%m-%dT%H:%M:%SZ"))
    started = time.monotonic()
    report = await rehearse(case.plan, alert, case.mocks, case.expect, env=skipping_env)
    assert report.ok, report.differences
    deadline = report.state.step("deadline")
    assert deadline is not None and deadline.output["waited_s"] > 12 * 86400
    assert time.monotonic() - started < 20


async def test_missing_mock_fails_before_the_run_naming_the_step(skipping_env: WorkflowEnvironment) -> None:
    case = load_case(CASE_DIRS[0].parent / "contain-with-retries")
    partial = Mocks.model_validate({"actions": {"evidence": {"output": {}}}})
    with pytest.raises(RehearsalError, match=r"revoke_keys\.revoke, notify"):
        await rehearse(case.plan, case.alert, partial, env=skipping_env)
