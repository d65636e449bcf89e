"""The incident list: filters, ordering, paging, and who each open run waits on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from engine.classification.tags import Framework
from engine.client import RunSummary
from engine.console.source import RunSource
from engine.plan.state import RunState

MAX_FILTER_CHARS = 100
DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000
OPEN = "running"


class Filters(BaseModel):
    """What the responder asked to see (query parameters, all optional)."""

    playbook: str = ""
    state: str = ""
    severity: str = ""
    atlas: str = Field("", description="A MITRE ATLAS id the run carries, e.g. AML.T0051")
    owasp: str = Field("", description="An OWASP LLM Top 10 2025 id the run carries, e.g. LLM01:2025")
    page: int = Field(1, ge=1)
    per_page: int = Field(DEFAULT_PER_PAGE, ge=1, le=MAX_PER_PAGE)

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        """Filters from a query string; anything malformed falls back to the default."""

        def text(name: str) -> str:
            return query.get(name, "").strip()[:MAX_FILTER_CHARS]

        def number(name: str, default: int, top: int) -> int:
            raw = query.get(name, "")
            return min(max(int(raw), 1), top) if raw.isascii() and raw.isdigit() and len(raw) < 7 else default

        return cls(
            playbook=text("playbook"),
            state=text("state"),
            severity=text("severity"),
            atlas=text("atlas"),
            owasp=text("owasp"),
            page=number("page", 1, 1_000_000),
            per_page=number("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE),
        )

    def query(self, **changes: str | int) -> dict[str, str]:
        """These filters (with ``changes``) as query parameters, defaults left out."""
        values = {**self.model_dump(), **changes}
        defaults = Filters().model_dump()
        return {k: str(v) for k, v in values.items() if v != defaults[k]}

    def keeps(self, run: RunSummary) -> bool:
        """True when ``run`` passes every filter."""
        return (
            (not self.playbook or run.playbook == self.playbook)
            and (not self.state or run.status == self.state)
            and (not self.severity or run.severity == self.severity)
            and (not self.atlas or self.atlas in run.atlas)
            and (not self.owasp or self.owasp in run.owasp_llm)
        )


class IncidentRow(BaseModel):
    """One line of the incident list."""

    run_id: str
    playbook: str
    severity: str
    title: str
    status: str
    atlas: list[str] = Field(default_factory=list)
    owasp_llm: list[str] = Field(default_factory=list)
    waiting_on: list[str] | None = Field(None, description="Approvers of pending steps; None: unknown.")
    started_at: datetime | None
    closed_at: datetime | None
    age_s: float | None


class TagOption(BaseModel):
    """A classification id the filter menu offers, with its name from the pinned list."""

    id: str
    name: str


def _options(framework: Framework, runs: list[RunSummary]) -> list[TagOption]:
    seen = {i for r in runs for i in (r.atlas if framework is Framework.ATLAS else r.owasp_llm)}
    return [TagOption(id=i, name=framework.taxonomy.label(i)) for i in sorted(seen)]


class Listing(BaseModel):
    """One page of the incident list and what the filter menus offer."""

    rows: list[IncidentRow]
    total: int
    matched: int
    filters: Filters
    pages: int
    playbooks: list[str]
    states: list[str]
    severities: list[str]
    atlas: list[TagOption] = Field(default_factory=list, description="ATLAS ids the runs carry")
    owasp_llm: list[TagOption] = Field(default_factory=list, description="OWASP LLM ids the runs carry")


def build_listing(runs: list[RunSummary], filters: Filters, now: datetime | None = None) -> Listing:
    """Filter, order (open runs first, newest first) and page ``runs``."""
    now = now or datetime.now(UTC)
    kept = [r for r in runs if filters.keeps(r)]
    kept.sort(key=lambda r: r.status != OPEN)  # stable: newest first within each group
    pages = max(1, -(-len(kept) // filters.per_page))
    start = (min(filters.page, pages) - 1) * filters.per_page
    rows = [
        IncidentRow(
            run_id=r.run_id,
            playbook=r.playbook,
            severity=r.severity,
            title=r.title,
            status=r.status,
            atlas=r.atlas,
            owasp_llm=r.owasp_llm,
            started_at=r.started_at,
            closed_at=r.closed_at,
            age_s=(now - r.started_at).total_seconds() if r.started_at else None,
        )
        for r in kept[start : start + filters.per_page]
    ]
    return Listing(
        rows=rows,
        total=len(runs),
        matched=len(kept),
        filters=filters,
        pages=pages,
        playbooks=sorted({r.playbook for r in runs if r.playbook}),
        states=sorted({r.status for r in runs if r.status}),
        severities=sorted({r.severity for r in runs if r.severity}),
        atlas=_options(Framework.ATLAS, runs),
        owasp_llm=_options(Framework.OWASP_LLM, runs),
    )


def waiting_on(state: RunState) -> list[str]:
    """Everyone who may decide a pending approval of ``state`` (after escalation, too)."""
    found: dict[str, None] = {}
    for record in state.pending_approvals():
        if record.approval is not None:
            found.update(dict.fromkeys(record.approval.approvers))
    return list(found)


class WaitingIndex:
    """Who open runs wait on, from their ``status`` query, cached briefly and fetched within a budget.

    A page never waits longer than ``budget_s`` for it: runs that did not answer show as unknown
    and are filled in by the next refresh.
    """

    def __init__(self, source: RunSource, *, ttl_s: float = 10.0, budget_s: float = 0.25) -> None:
        self.source = source
        self.ttl_s = ttl_s
        self.budget_s = budget_s
        self._known: dict[str, tuple[float, list[str]]] = {}
        self._inflight: dict[str, asyncio.Task[None]] = {}

    def forget(self, run_id: str) -> None:
        """Drop what is known about ``run_id`` (after a decision)."""
        self._known.pop(run_id, None)

    async def fill(self, rows: list[IncidentRow]) -> None:
        """Set ``waiting_on`` on the open rows."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        wanted = [r for r in rows if r.status == OPEN]
        for row in wanted:
            known = self._known.get(row.run_id)
            if (known is None or now - known[0] > self.ttl_s) and row.run_id not in self._inflight:
                self._inflight[row.run_id] = asyncio.create_task(self._fetch(row.run_id))
        tasks = [self._inflight[r.run_id] for r in wanted if r.run_id in self._inflight]
        if tasks:
            await asyncio.wait(tasks, timeout=self.budget_s)
        for row in wanted:
            known = self._known.get(row.run_id)
            row.waiting_on = known[1] if known is not None else None
        if len(self._known) > 20_000:
            cutoff = now - self.ttl_s
            self._known = {k: v for k, v in self._known.items() if v[0] >= cutoff}

    async def _fetch(self, run_id: str) -> None:
        try:
            with contextlib.suppress(Exception):  # an unanswered query leaves the row "unknown"
                state = await self.source.state(run_id)
                self._known[run_id] = (asyncio.get_running_loop().time(), waiting_on(state))
        finally:
            self._inflight.pop(run_id, None)
