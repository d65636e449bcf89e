"""The plan: a small, serializable description of what a run executes."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.spec.models import InputType, OnError, OnTimeout


class StepKind(StrEnum):
    """The body a step has."""

    ACTION = "action"
    APPROVAL = "approval"
    FOR_EACH = "for_each"
    PARALLEL = "parallel"
    WAIT = "wait"
    PLAYBOOK = "playbook"


class RetryPolicy(BaseModel):
    """How often and how fast an action is tried again."""

    model_config = ConfigDict(frozen=True)

    attempts: int = 3
    initial_s: float = 1.0
    backoff: float = 2.0
    max_s: float = 30.0

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2, 3, ...)."""
        return float(min(self.initial_s * self.backoff ** max(attempt - 2, 0), self.max_s))


class ApprovalPlan(BaseModel):
    """An approval as the run needs it (title and details are templates)."""

    title: str
    details: str = ""
    approvers: list[str]
    timeout_s: float
    deadline: str | None = None
    remind_before_s: list[float] = Field(default_factory=list)
    on_timeout: OnTimeout
    escalate_to: list[str] = Field(default_factory=list)
    guards: str | None = None
    editable: list[str] = Field(default_factory=list)
    #: JSON Schema of the editable arguments, from the guarded action's parameter model.
    edit_schema: dict[str, Any] = Field(default_factory=dict)


class PlanStep(BaseModel):
    """One compiled step."""

    id: str
    kind: StepKind
    name: str = ""
    condition: str | None = None
    on_error: OnError = OnError.FAIL
    timeout_s: float = 60.0
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    action: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    approval: ApprovalPlan | None = None
    items: str | list[Any] | None = None
    loop_var: str = "item"
    max_parallel: int = 1
    children: list[PlanStep] = Field(default_factory=list)
    wait_s: float | None = None
    wait_until: str | None = None
    playbook: str | None = None


class InputPlan(BaseModel):
    """A declared input."""

    name: str
    type: InputType
    enum: list[Any] | None = None
    default: Any = None
    required: bool = False


class Plan(BaseModel):
    """Everything a run needs, pinned to the exact playbook text by its sha256."""

    name: str
    version: int
    title: str = ""
    sha256: str
    source_file: str = ""
    inputs: list[InputPlan] = Field(default_factory=list)
    steps: list[PlanStep]
    on_failure: list[PlanStep] = Field(default_factory=list)
    outputs: dict[str, Any] = Field(default_factory=dict)
    dedup_key: str = "{{ alert.fingerprint }}"
    dedup_window_s: float = 6 * 3600.0
    subplans: dict[str, Plan] = Field(default_factory=dict)
    classification: dict[str, list[str]] = Field(
        default_factory=dict, description="metadata.classification: atlas and owasp_llm ids"
    )

    def without_subplans(self) -> Plan:
        """This plan alone, for a child run's input (its own subplans travel separately)."""
        return self.model_copy(update={"subplans": {}})
