"""Playbooks as the console shows them: compiled plans and Mermaid charts, cached by source hash."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from engine.errors import PlaybookInvalid
from engine.plan.compile import compile_plan
from engine.plan.graph import to_mermaid
from engine.plan.models import Plan
from engine.spec.catalog import Catalog, LoadedPlaybook


class PlaybookCard(BaseModel):
    """One playbook on the catalog page."""

    name: str
    title: str = ""
    version: int | None = None
    owner: str = ""
    description: str = ""
    tags: list[str] = []
    file: str
    sha256: str
    trigger: str = ""
    inputs: list[dict[str, Any]] = []
    mermaid: str = ""
    problems: list[str] = []


class PlanCache:
    """Compiled plans and their charts by (name, sha256): a playbook's text decides both."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._plans: dict[tuple[str, str], Plan | PlaybookInvalid] = {}

    def plan(self, catalog: Catalog, entry: LoadedPlaybook) -> Plan:
        """The compiled plan of ``entry`` (children from ``catalog``).

        Raises:
            PlaybookInvalid: the playbook or one of its children does not validate.
        """
        key = (entry.name or entry.file, entry.sha256)
        found = self._plans.get(key)
        if found is None:
            try:
                found = compile_plan(entry, catalog)
            except PlaybookInvalid as exc:
                found = exc
            if len(self._plans) >= self.capacity:
                self._plans.pop(next(iter(self._plans)))
            self._plans[key] = found
        if isinstance(found, PlaybookInvalid):
            raise found
        return found

    def card(self, catalog: Catalog, entry: LoadedPlaybook) -> PlaybookCard:
        """What the catalog page shows of ``entry``."""
        card = PlaybookCard(name=entry.name or entry.file, file=entry.file, sha256=entry.sha256)
        spec = entry.playbook
        if spec is not None:
            meta = spec.metadata
            card.title, card.version, card.owner = meta.title, meta.version, meta.owner
            card.description, card.tags = meta.description, list(meta.tags)
            if spec.trigger is not None:
                dumped = spec.trigger.model_dump(mode="json", by_alias=True, exclude_none=True)
                card.trigger = yaml.safe_dump(dumped, sort_keys=False, allow_unicode=True)
            card.inputs = [
                {"name": name, **item.model_dump(mode="json", exclude_defaults=False)}
                for name, item in spec.inputs.items()
            ]
        card.problems = [d.render() for d in entry.diagnostics]
        if entry.ok:
            try:
                card.mermaid = to_mermaid(self.plan(catalog, entry))
            except PlaybookInvalid as exc:
                card.problems += [d.render() for d in exc.diagnostics] or [str(exc)]
        return card


class RunPlan(BaseModel):
    """The plan a run page draws, and what the responder should know about it."""

    plan: Plan | None = None
    note: str = ""


def plan_of_run(cache: PlanCache, catalog: Catalog, playbook: str, sha256: str) -> RunPlan:
    """The catalog's plan for a run of ``playbook``, noting when it is not the version the run pinned."""
    entry = catalog.by_name.get(playbook)
    if entry is None:
        return RunPlan(note=f"playbook {playbook!r} is not in the catalog any more; no graph to draw")
    try:
        plan = cache.plan(catalog, entry)
    except PlaybookInvalid as exc:
        return RunPlan(note=f"the catalog's {playbook} does not validate: {exc}")
    note = ""
    if sha256 and plan.sha256 != sha256:
        note = (
            f"graph drawn from the catalog's current {playbook} v{plan.version}; "
            f"this run pinned an earlier text (sha256 {sha256[:12]}…)"
        )
    return RunPlan(plan=plan, note=note)
