"""The baseline: the same work written by hand as ordinary temporalio workflows and activities.

This is what a team would write without fireline: one activity per call, arguments computed
in Python inside the workflow, an Update with a validator for the approval. It runs on the
same server, client (pydantic data converter) and worker settings as the engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from bench import work

TIMEOUT = timedelta(seconds=60)  # the engine's default step timeout
MARKS: dict[str, float] = {}  # workflow id → perf_counter() when the post-approval activity started


@dataclass
class Incident:
    """The workflow input: the parts of the alert the work needs."""

    title: str
    model: str


@dataclass
class DecisionIn:
    """A responder's decision."""

    approve: bool
    by: str


# -- activities --------------------------------------------------------------------------------------
@activity.defn(name="bl_search")
async def search(index: str, model: str, size: int) -> dict[str, Any]:
    """Search-like."""
    return work.search(index, model, size)


@activity.defn(name="bl_enrich")
async def enrich(keys: list[str]) -> dict[str, Any]:
    """Key owners."""
    return work.enrich(keys)


@activity.defn(name="bl_score")
async def score(total: int, owners: dict[str, str]) -> dict[str, Any]:
    """A risk score."""
    return work.score(total, owners)


@activity.defn(name="bl_contain")
async def contain(keys: list[str], reason: str) -> dict[str, Any]:
    """A deny-list change."""
    return work.contain(keys, reason)


@activity.defn(name="bl_post")
async def post(channel: str, text: str) -> dict[str, Any]:
    """Post-like."""
    return work.post(channel, text)


@activity.defn(name="bl_mark")
async def mark() -> dict[str, Any]:
    """Record when the step after the approval started."""
    MARKS[activity.info().workflow_id or ""] = time.perf_counter()
    return {"marked": True}


ACTIVITIES: list[Callable[..., Any]] = [search, enrich, score, contain, post, mark]


# -- workflows ---------------------------------------------------------------------------------------
@workflow.defn(name="BaselineFiveSteps")
class FiveSteps:
    """search → enrich → score → contain → post, sequentially."""

    @workflow.run
    async def run(self, incident: Incident) -> dict[str, Any]:
        found = await workflow.execute_activity(
            search, args=["logs-model-gateway-*", incident.model, work.HITS], start_to_close_timeout=TIMEOUT
        )
        keys = await workflow.execute_activity(
            enrich, work.unique_keys(found["hits"]), start_to_close_timeout=TIMEOUT
        )
        risk = await workflow.execute_activity(
            score, args=[found["total"], keys["owners"]], start_to_close_timeout=TIMEOUT
        )
        blocked = await workflow.execute_activity(
            contain, args=[keys["keys"], f"risk {risk['score']}"], start_to_close_timeout=TIMEOUT
        )
        text = f"{incident.title}: blocked {len(blocked['blocked'])} keys"
        await workflow.execute_activity(post, args=["#ai-incidents", text], start_to_close_timeout=TIMEOUT)
        return {"blocked": blocked["blocked"]}


@workflow.defn(name="BaselineApproval")
class Approval:
    """search → wait for a decision (an Update) → one activity."""

    def __init__(self) -> None:
        self.waiting = False
        self.decision: DecisionIn | None = None

    @workflow.run
    async def run(self, incident: Incident) -> dict[str, Any]:
        await workflow.execute_activity(
            search, args=["logs-model-gateway-*", incident.model, work.HITS], start_to_close_timeout=TIMEOUT
        )
        self.waiting = True
        await workflow.wait_condition(lambda: self.decision is not None, timeout=timedelta(hours=1))
        self.waiting = False
        if self.decision is not None and self.decision.approve:
            await workflow.execute_activity(mark, start_to_close_timeout=TIMEOUT)
        return {"approved": bool(self.decision and self.decision.approve)}

    @workflow.update(name="decide")
    def decide(self, decision: DecisionIn) -> str:
        """Record the decision."""
        self.decision = decision
        return decision.by

    @decide.validator
    def check(self, decision: DecisionIn) -> None:
        """Only a pending approval, only by the approver, only once."""
        if not self.waiting or self.decision is not None:
            raise ValueError("not waiting for a decision")
        if decision.by != "user:bench":
            raise ValueError("not an approver")

    @workflow.query(name="waiting")
    def is_waiting(self) -> bool:
        """True while parked on the approval."""
        return self.waiting
