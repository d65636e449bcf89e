"""MOCKS.yaml and EXPECT.yaml as pydantic models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.plan.addresses import bare_path, find_by_path, generic_path
from engine.plan.models import Plan, PlanStep, StepKind
from engine.plan.state import Decision, RunStatus, StepStatus
from engine.spec.models import Duration, parse_duration
from engine.workflows.types import ApprovalScript

__all__ = ["bare_path", "generic_path"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MockError(_Strict):
    """A mocked failure."""

    type: str = "Error"
    message: str = "mocked failure"
    retryable: bool = True


class MockOutcome(_Strict):
    """One attempt's mocked result."""

    output: Any = None
    error: MockError | None = None


class ActionMock(_Strict):
    """A step's mocked results: one for every attempt, or one per attempt (the last repeats)."""

    output: Any = None
    error: MockError | None = None
    attempts: list[MockOutcome] | None = None

    def outcome(self, attempt: int) -> MockOutcome:
        """The outcome of attempt number ``attempt`` (1-based)."""
        if self.attempts:
            return self.attempts[min(attempt, len(self.attempts)) - 1]
        return MockOutcome(output=self.output, error=self.error)


class ApprovalMockSpec(_Strict):
    """A scripted approval answer."""

    decision: Literal["approve", "reject", "none"]
    by: str = "user:rehearsal"
    after: Duration = "0s"
    reason: str = ""
    set_: dict[str, Any] = Field(
        default_factory=dict, alias="set", description="edited arguments of the guarded step"
    )

    def script(self) -> ApprovalScript:
        """As the workflow input takes it."""
        decision = None if self.decision == "none" else Decision(self.decision)
        return ApprovalScript(
            decision=decision,
            by=self.by,
            after_s=parse_duration(self.after),
            reason=self.reason,
            edits=self.set_,
        )


class Mocks(_Strict):
    """MOCKS.yaml."""

    inputs: dict[str, Any] = Field(default_factory=dict)
    actions: dict[str, ActionMock] = Field(default_factory=dict)
    approvals: dict[str, ApprovalMockSpec] = Field(default_factory=dict)
    continue_as_new: bool = Field(
        False,
        description=(
            "rehearse roll-overs: the run continues as new whenever it is parked (simulated), or after "
            "20 history events (on Temporal), as a run parked for weeks does"
        ),
    )

    def for_path(self, path: str) -> ActionMock | None:
        """The mock of an action at ``path``: the exact item first, then every item, then the bare id
        (``alert_humans`` for ``on_failure.alert_humans``)."""
        return find_by_path(self.actions, path)

    def scripts(self) -> dict[str, ApprovalScript]:
        """Approval scripts keyed by step path."""
        return {path: spec.script() for path, spec in self.approvals.items()}


class Expect(_Strict):
    """EXPECT.yaml: every listed item must match."""

    status: RunStatus | None = None
    steps: dict[str, StepStatus] = Field(default_factory=dict)
    attempts: dict[str, int] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    not_run: list[str] = Field(default_factory=list)
    edited: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="arguments an approver changed, by the guarded step's path"
    )
    classification: dict[str, list[str]] = Field(
        default_factory=dict, description="ids the run must carry: atlas, owasp_llm, rejected (values)"
    )
    continued_as_new: bool | None = Field(
        None, description="true: the run continued as new at least once; false: never"
    )


def action_paths(plan: Plan) -> list[str]:
    """Generic paths of every action step, child playbooks included."""

    def walk(steps: list[PlanStep], prefix: str, seen: frozenset[str]) -> list[str]:
        out: list[str] = []
        for step in steps:
            path = f"{prefix}{step.id}"
            if step.kind is StepKind.ACTION:
                out.append(path)
            elif step.kind is StepKind.PLAYBOOK and step.playbook and step.playbook not in seen:
                child = plan.subplans.get(step.playbook)
                if child is not None:
                    out += walk(child.steps + child.on_failure, f"{path}.", seen | {step.playbook})
            out += walk(step.children, f"{path}.", seen)
        return out

    return walk(plan.steps, "", frozenset({plan.name})) + walk(
        plan.on_failure, "on_failure.", frozenset({plan.name})
    )


def approval_steps(plan: Plan) -> dict[str, PlanStep]:
    """Approval steps by generic path (children of loops and parallel blocks included)."""

    def walk(steps: list[PlanStep], prefix: str) -> dict[str, PlanStep]:
        found: dict[str, PlanStep] = {}
        for step in steps:
            if step.kind is StepKind.APPROVAL:
                found[f"{prefix}{step.id}"] = step
            found.update(walk(step.children, f"{prefix}{step.id}."))
        return found

    return walk(plan.steps, "") | walk(plan.on_failure, "on_failure.")
