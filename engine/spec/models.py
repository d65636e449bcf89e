"""The playbook format as pydantic models; the JSON Schema is generated from these."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
)

from engine.classification.pinned import ATLAS, OWASP_LLM

DURATION_RE = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
STEP_ID_PATTERN = r"^[a-z][a-z0-9_]*$"
STEP_BODIES = ("uses", "approval", "for_each", "parallel", "wait", "playbook")


def parse_duration(text: str) -> float:
    """Seconds in ``90s``, ``15m``, ``72h``, ``60d`` or ``500ms``."""
    match = DURATION_RE.match(text.strip())
    if not match:
        raise ValueError(
            f"{text!r} is not a duration (use a number and ms, s, m, h or d, e.g. 30s, 15m, 72h)"
        )
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    Field(pattern=DURATION_RE.pattern, examples=["30s", "15m", "72h"]),
]
Approver = Annotated[
    str, Field(pattern=r"^(user|group):[A-Za-z0-9._@-]+$", examples=["user:U024BE7LH", "group:ml-oncall"])
]


class Strict(BaseModel):
    """Base: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OnError(StrEnum):
    """What a failed step does to its block."""

    FAIL = "fail"
    CONTINUE = "continue"


class OnTimeout(StrEnum):
    """What an approval does when nobody answers in time."""

    ESCALATE = "escalate"
    APPROVE = "approve"
    REJECT = "reject"


class ClassificationSpec(Strict):
    """What kind of AI incident a playbook handles, by ids on fireline's pinned lists."""

    # The schema lists the pinned ids; `fireline validate` checks them with a closest-id hint.
    atlas: list[Annotated[str, Field(json_schema_extra={"enum": list(ATLAS.entries)})]] = Field(
        default_factory=list, description=f"MITRE ATLAS {ATLAS.version} technique ids, e.g. AML.T0051"
    )
    owasp_llm: list[Annotated[str, Field(json_schema_extra={"enum": list(OWASP_LLM.entries)})]] = Field(
        default_factory=list, description="OWASP Top 10 for LLM Applications 2025 ids, e.g. LLM01:2025"
    )


class Metadata(Strict):
    """Who a playbook is and who answers for it."""

    name: str = Field(pattern=r"^[a-z0-9-]{3,63}$")
    version: int = Field(ge=1)
    title: str = ""
    owner: str = ""
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    classification: ClassificationSpec = Field(default_factory=ClassificationSpec)


class MatchRule(Strict):
    """One trigger rule: a source and conditions on the normalized alert."""

    source: Literal["elastic", "alertmanager", "generic", "any"] = "any"
    match: dict[str, Any] = Field(default_factory=dict)


class Dedup(Strict):
    """How repeats of one incident are folded into one run."""

    key: str = "{{ alert.fingerprint }}"
    window: Duration = "6h"


class Trigger(Strict):
    """When a playbook starts by itself."""

    any: list[MatchRule] | None = None
    all: list[MatchRule] | None = None
    dedup: Dedup = Field(default_factory=Dedup)
    schedule: str | None = Field(default=None, description="cron expression, e.g. '0 * * * *'")


class InputType(StrEnum):
    """Types an input may declare."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    OBJECT = "object"
    ARRAY = "array"


class InputSpec(Strict):
    """A typed playbook input, validated before the run starts."""

    type: InputType = InputType.STRING
    description: str = ""
    enum: list[Any] | None = None
    default: Any = None
    required: bool = False


class Retry(Strict):
    """Retry policy of an action step."""

    attempts: int = Field(default=3, ge=1, le=100)
    initial: Duration = "1s"
    backoff: float = Field(default=2.0, ge=1.0, le=10.0)
    max: Duration = "30s"


class StepBase(Strict):
    """Fields every step shares."""

    id: str = Field(pattern=STEP_ID_PATTERN)
    name: str | None = None
    if_: str | None = Field(default=None, alias="if", description="bare expression; false skips the step")
    timeout: Duration | None = None
    retry: Retry | None = None
    on_error: OnError = OnError.FAIL


class ActionStep(StepBase):
    """``uses:`` one action with ``with:`` arguments."""

    uses: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")


class Approval(Strict):
    """A human decision."""

    title: str
    details: str = ""
    approvers: list[Approver] = Field(min_length=1)
    timeout: Duration = "1h"
    deadline: str | None = Field(
        default=None,
        description="timestamp (template) by which to decide; replaces timeout, e.g. a legal clock",
    )
    remind_before: list[Duration] = Field(
        default_factory=list, description="reminders this long before the deadline; the last one escalates"
    )
    on_timeout: OnTimeout = OnTimeout.REJECT
    escalate_to: list[Approver] = Field(default_factory=list)
    guards: str | None = Field(
        default=None,
        pattern=STEP_ID_PATTERN,
        description="id of the later action step (in the same list) this approval lets run",
    )
    editable: list[str] = Field(
        default_factory=list, description="arguments of the guarded step the approver may change"
    )


class ApprovalStep(StepBase):
    """``approval:`` waits for a decision."""

    approval: Approval


class ForEachStep(StepBase):
    """``for_each:`` runs nested steps once per item."""

    for_each: str | list[Any]
    as_: str = Field(default="item", alias="as", pattern=STEP_ID_PATTERN)
    max_parallel: int = Field(default=1, ge=1, le=100)
    steps: list[Step] = Field(min_length=1)


class ParallelStep(StepBase):
    """``parallel:`` runs its steps at the same time."""

    parallel: list[Step] = Field(min_length=1)


class WaitUntil(Strict):
    """Wait until a timestamp."""

    until: str


class WaitStep(StepBase):
    """``wait:`` a durable timer."""

    wait: Duration | WaitUntil


class PlaybookStep(StepBase):
    """``playbook:`` runs another playbook as a child run."""

    playbook: str = Field(pattern=r"^[a-z0-9-]{3,63}$")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")


def step_kind(value: Any) -> str | None:
    """Tag of the step union: the single body key present, or None when zero or several."""
    if isinstance(value, dict):
        present = [body for body in STEP_BODIES if body in value]
    elif isinstance(value, StepBase):
        present = [body for body in STEP_BODIES if body in type(value).model_fields]
    else:
        return None
    return present[0] if len(present) == 1 else None


Step = Annotated[
    Annotated[ActionStep, Tag("uses")]
    | Annotated[ApprovalStep, Tag("approval")]
    | Annotated[ForEachStep, Tag("for_each")]
    | Annotated[ParallelStep, Tag("parallel")]
    | Annotated[WaitStep, Tag("wait")]
    | Annotated[PlaybookStep, Tag("playbook")],
    Discriminator(
        step_kind,
        custom_error_type="step_body",
        custom_error_message="a step needs exactly one body",
    ),
]


class Playbook(Strict):
    """A whole playbook, ``apiVersion: fireline/v1``."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"$id": "https://fireline.dev/schema/playbook-v1.json"},
    )

    api_version: Literal["fireline/v1"] = Field(alias="apiVersion")
    kind: Literal["Playbook"]
    metadata: Metadata
    trigger: Trigger | None = None
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)
    on_failure: list[Step] = Field(default_factory=list)
    outputs: dict[str, Any] = Field(default_factory=dict)


AnyStep = ActionStep | ApprovalStep | ForEachStep | ParallelStep | WaitStep | PlaybookStep
ForEachStep.model_rebuild()
ParallelStep.model_rebuild()
Playbook.model_rebuild()
