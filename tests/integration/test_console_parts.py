"""The console's pure parts: graph state classes, the incident list, display caps, waiting-on."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from engine.client import RunSummary
from engine.console.display import MAX_FIELDS, flatten, markdown, pretty_json
from engine.console.graph import node_id, node_states, plan_node_ids, run_graph
from engine.console.listing import Filters, WaitingIndex, build_listing
from engine.plan.models import StepKind
from engine.plan.state import RunState, StepRecord, StepStatus
from tests.fixtures.console import FakeRunSource, pending_state
from tests.workflow.test_playbook_run import plan_of

LOOPS = """\
metadata: { name: loops-and-blocks, version: 1 }
steps:
  - id: scan
    for_each: "{{ [1, 2, 3] }}"
    as: item
    steps:
      - id: check
        uses: core.echo
        with: { message: "{{ item }}" }
  - id: tell
    parallel:
      - id: chat
        uses: core.echo
        with: { message: hi }
      - id: page
        uses: core.echo
        with: { message: hi }
on_failure:
  - id: cleanup
    uses: core.echo
    with: { message: bye }
"""


def record(path: str, status: StepStatus) -> StepRecord:
    return StepRecord(
        path=path,
        id=path.rsplit(".", 1)[-1],
        kind=StepKind.ACTION,
        status=status,
        started_at=datetime.now(UTC),
    )


def test_timeline_paths_map_onto_the_nodes_the_chart_draws() -> None:
    plan = plan_of(LOOPS)
    assert plan_node_ids(plan) == {
        "scan",
        "scan__check",
        "tell",
        "tell__chat",
        "tell__page",
        "onfail__cleanup",
    }
    assert node_id("scan[2].check") == "scan__check"
    assert node_id("tell.page") == "tell__page"
    assert node_id("on_failure.cleanup") == "onfail__cleanup"
    steps = [
        record("scan", StepStatus.RUNNING),
        record("scan[0].check", StepStatus.SUCCEEDED),
        record("scan[1].check", StepStatus.FAILED),
        record("scan[2].check", StepStatus.RUNNING),
        record("tell.chat", StepStatus.SUCCEEDED),
        record("on_failure.cleanup", StepStatus.WAITING),
        record("ghost", StepStatus.FAILED),
    ]
    assert node_states(steps)["scan__check"] is StepStatus.FAILED
    chart = run_graph(plan, steps)
    assert "    class scan__check st_failed" in chart and "    class tell__chat st_succeeded" in chart
    assert "    class onfail__cleanup st_waiting" in chart and "ghost" not in chart
    assert "classDef st_running" in chart and chart.startswith("flowchart TD")


def summary(i: int, status: str = "running", playbook: str = "pb-a", severity: str = "high") -> RunSummary:
    started = datetime(2026, 11, 20, 8, 0, tzinfo=UTC) - timedelta(minutes=i)
    return RunSummary(
        run_id=f"r{i}",
        playbook=playbook,
        status=status,
        title=f"t{i}",
        severity=severity,
        started_at=started,
        closed_at=None,
    )


def test_the_list_puts_open_runs_first_then_filters_and_pages() -> None:
    runs = [summary(0, "succeeded"), summary(1), summary(2, "failed", "pb-b", "low"), summary(3)]
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    listing = build_listing(runs, Filters(), now)
    assert [r.run_id for r in listing.rows] == ["r1", "r3", "r0", "r2"]
    assert listing.rows[0].age_s == 61 * 60
    assert listing.playbooks == ["pb-a", "pb-b"] and listing.states == ["failed", "running", "succeeded"]
    only = build_listing(runs, Filters(playbook="pb-b", state="failed", severity="low"), now)
    assert [r.run_id for r in only.rows] == ["r2"] and only.matched == 1 and only.total == 4
    paged = build_listing(runs, Filters(per_page=3, page=9), now)
    assert paged.pages == 2 and [r.run_id for r in paged.rows] == ["r2"]


def test_filters_from_a_hostile_query_fall_back_to_defaults() -> None:
    junk = Filters.from_query({"page": "-1", "per_page": "99999999", "state": "x" * 500, "playbook": " a "})
    assert junk.page == 1 and junk.per_page == 100 and len(junk.state) == 100 and junk.playbook == "a"
    assert Filters.from_query({"per_page": "5000"}).per_page == 1000
    assert Filters(playbook="a", page=2).query() == {"playbook": "a", "page": "2"}


def test_alert_display_is_capped_and_ordered() -> None:
    deep: dict[str, object] = {"leaf": "bottom"}
    for _ in range(30):
        deep = {"d": deep}
    alert = {
        "fields": {f"k{i}": i for i in range(2000)},
        "title": "T",
        "id": "a1",
        "deep": deep,
        "long": "x" * 5000,
    }
    rows = flatten(alert)
    assert rows[0] == ("id", "a1") and rows[1] == ("title", "T")
    assert len(rows) == MAX_FIELDS + 1 and rows[-1][0] == "…"
    long_value = dict(flatten({"long": "x" * 5000}))["long"]
    assert long_value.endswith("(3000 more characters)")
    nested = dict(flatten({"deep": deep}))
    assert len(next(iter(nested))) < 300
    assert len(pretty_json({"k": "y" * 100_000})) < 65_000


def test_markdown_never_passes_html_through() -> None:
    html = markdown('<b onclick="x()">hi</b>\n\n[a](javascript:alert(1))\n\n`<i>`')
    assert "<b" not in html and "&lt;b onclick=" in html and 'href="javascript' not in html
    assert "<code>&lt;i&gt;</code>" in html


class SlowSource(FakeRunSource):
    """Answers status queries only after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def state(self, run_id: str) -> RunState:
        await asyncio.sleep(self.delay)
        return await super().state(run_id)


async def test_waiting_on_never_holds_a_page_longer_than_its_budget() -> None:
    source = SlowSource(delay=0.5)
    source.add(pending_state("slow-1"))
    index = WaitingIndex(source, budget_s=0.05)
    rows = build_listing(await source.runs(), Filters()).rows
    started = time.perf_counter()
    await index.fill(rows)
    assert time.perf_counter() - started < 0.3 and rows[0].waiting_on is None
    await asyncio.sleep(0.6)  # the query finished in the background
    await index.fill(rows)
    assert rows[0].waiting_on == ["user:U1", "group:ml-oncall"]


async def test_the_latency_benchmark_measures_every_page() -> None:
    from bench.console_latency import INFORMATIONAL, measure

    results = await measure(count=40, requests=3)
    assert len(results) == 7 and INFORMATIONAL in results
    assert all(0 < row["p50"] <= row["p95"] and row["bytes"] > 1000 for row in results.values())
