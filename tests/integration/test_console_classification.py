"""The incident list filters by MITRE ATLAS and OWASP LLM ids, over a real Temporal dev server and
worker: ids come from the playbook and from the alert, travel in the run's memo, and show per row."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from engine import client as fl
from engine.console.source import TemporalRunSource
from engine.plan.compile import compile_plan
from engine.spec.catalog import Catalog, validate_text
from tests.fixtures.actions import TEST_REGISTRY
from tests.fixtures.console import LocalServer, bearer, chromium, console_app
from tests.integration.test_console_browser import approval_worker, sign_in
from tests.workflow.test_playbook_run import APPROVAL_PLAYBOOK, HEAD, alert, wait_for

__all__ = ["approval_worker", "chromium"]
CLASSIFIED = "  classification: { atlas: [AML.T0051], owasp_llm: [LLM01:2025] }\n"


def tagged_catalog() -> tuple[Catalog, str]:
    """The approval playbook, classified as prompt injection, under a name no other test uses."""
    name = f"tagged-{uuid.uuid4().hex[:8]}"
    body = APPROVAL_PLAYBOOK.replace("approve-then-act", name).replace(
        f"metadata: {{ name: {name}, version: 1 }}\n",
        f"metadata:\n  name: {name}\n  version: 1\n{CLASSIFIED}",
    )
    entry = validate_text(HEAD + body, "tagged.yaml", TEST_REGISTRY)
    assert entry.diagnostics == [], [d.render() for d in entry.diagnostics]
    return Catalog(entries=[entry], by_name={name: entry}), name


async def test_the_incident_list_filters_by_atlas_and_owasp_ids(
    client: Client, task_queue: str, approval_worker: Worker, tmp_path: Path
) -> None:
    catalog, name = tagged_catalog()
    plan = compile_plan(catalog.by_name[name], catalog)
    assert plan.classification == {"atlas": ["AML.T0051"], "owasp_llm": ["LLM01:2025"]}
    leak = alert(
        title="injection that leaked data",
        fields={"labels": {"atlas": "AML.T0057", "owasp_llm": "LLM02:2025,LLM02-2025"}},
    )
    runs = [
        await fl.start_run(client, plan, leak, {}, task_queue=task_queue),
        await fl.start_run(client, plan, alert(title="plain injection"), {}, task_queue=task_queue),
    ]
    for run in runs:
        await wait_for(client, run.run_id, lambda s: s.pending_approvals())
    state = await fl.status(client, runs[0].run_id)
    assert state.classification.atlas == ["AML.T0051", "AML.T0057"]
    assert state.classification.owasp_llm == ["LLM01:2025", "LLM02:2025"]
    assert [(r.value, r.hint) for r in state.classification.rejected] == [("LLM02-2025", "LLM02:2025")]

    source = TemporalRunSource(lambda: client, list_ttl_s=0.1)
    app = console_app(tmp_path, catalog, source=source)
    try:
        async with LocalServer(app) as server, httpx.AsyncClient(base_url=server.url) as http:

            async def listed(**params: str) -> dict[str, object]:
                answer = await http.get(
                    "/console/api/runs", params={"playbook": name, **params}, headers=bearer("viewer")
                )
                assert answer.status_code == 200
                return dict(answer.json())

            everything = await listed()
            assert everything["matched"] == 2
            assert {"id": "AML.T0057", "name": "LLM Data Leakage"} in everything["atlas"]  # type: ignore[operator]
            leaked = await listed(atlas="AML.T0057")
            assert [r["title"] for r in leaked["rows"]] == ["injection that leaked data"]  # type: ignore[attr-defined]
            assert leaked["rows"][0]["owasp_llm"] == ["LLM01:2025", "LLM02:2025"]  # type: ignore[index]
            assert (await listed(atlas="AML.T0051"))["matched"] == 2
            assert (await listed(owasp="LLM02:2025"))["matched"] == 1
            assert (await listed(owasp="LLM02-2025"))["matched"] == 0  # a rejected id is not carried

            page = await http.get(
                "/console/", params={"playbook": name, "atlas": "AML.T0057"}, headers=bearer("viewer")
            )
            assert page.status_code == 200
            assert '<option value="AML.T0057" title="LLM Data Leakage" selected>' in page.text
            assert page.text.count('<tr class="incident"') == 1
            assert '<span class="tag">AML.T0057</span>' in page.text
            run_page = await http.get(f"/console/runs/{runs[0].run_id}", headers=bearer("viewer"))
            assert '<a class="tag" href="/console/?atlas=AML.T0057">AML.T0057</a>' in run_page.text
            assert "not on the pinned lists: LLM02-2025" in run_page.text
    finally:
        for run in runs:
            await fl.cancel(client, run.run_id)


async def test_a_responder_filters_by_technique_in_chromium(
    chromium: Any, client: Client, task_queue: str, approval_worker: Worker, tmp_path: Path
) -> None:
    catalog, name = tagged_catalog()
    plan = compile_plan(catalog.by_name[name], catalog)
    leak = alert(title="leaky injection", fields={"classification": {"atlas": ["AML.T0057"]}})
    runs = [
        await fl.start_run(client, plan, leak, {}, task_queue=task_queue),
        await fl.start_run(client, plan, alert(title="quiet injection"), {}, task_queue=task_queue),
    ]
    try:
        for run in runs:
            await wait_for(client, run.run_id, lambda s: s.pending_approvals())
        app = console_app(tmp_path, catalog, source=TemporalRunSource(lambda: client, list_ttl_s=0.1))
        async with LocalServer(app) as server:
            page, seen = await sign_in(chromium, server.url, "responder", f"/console/?playbook={name}")
            await page.locator("tr.incident").nth(1).wait_for()
            await page.select_option("select[name=atlas]", "AML.T0057")
            await page.click("form.filters button[type=submit]")
            await page.wait_for_url("**atlas=AML.T0057**")
            rows = page.locator("tr.incident")
            await rows.first.wait_for()
            assert await rows.count() == 1
            assert "leaky injection" in await rows.first.inner_text()
            assert "AML.T0057" in await rows.first.locator("td.classification").inner_text()
            assert seen["errors"] == [] and seen["dialogs"] == []
            await page.context.close()
    finally:
        for run in runs:
            await fl.cancel(client, run.run_id)
