"""The console in a real browser: Debian's Chromium (Playwright), a real uvicorn server, a real
Temporal dev server and worker. A responder signs in, finds the incident, sees its graph drawn,
and clicks Approve; the run finishes. An alert titled ``<script>`` shows as text and runs nothing.
Screenshots land in tests/artifacts/.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from temporalio.client import Client
from temporalio.worker import Worker

from engine import client as fl
from engine.activities.run_action import ActionRunner
from engine.console.source import TemporalRunSource
from engine.plan.compile import compile_plan
from engine.plan.state import RunStatus
from engine.spec.catalog import Catalog, validate_text
from engine.worker import build_worker
from tests.fixtures.actions import TEST_REGISTRY
from tests.fixtures.console import (
    ARTIFACTS,
    AuditLog,
    LocalServer,
    bearer,
    chromium,
    console_app,
    token,
)
from tests.workflow.test_playbook_run import APPROVAL_PLAYBOOK, HEAD, alert, wait_for

__all__ = ["chromium"]
HOSTILE = "<script>alert(1)</script>"


@pytest_asyncio.fixture
async def approval_worker(client: Client, task_queue: str) -> AsyncIterator[Worker]:
    async with build_worker(client, task_queue, runner=ActionRunner(TEST_REGISTRY)) as worker:
        yield worker


def approval_catalog() -> tuple[Catalog, str]:
    """The approval playbook under a name no other test uses."""
    name = f"console-{uuid.uuid4().hex[:8]}"
    entry = validate_text(
        HEAD + APPROVAL_PLAYBOOK.replace("approve-then-act", name), "approve.yaml", TEST_REGISTRY
    )
    assert entry.diagnostics == []
    return Catalog(entries=[entry], by_name={name: entry}), name


async def sign_in(browser: Any, base: str, who: str, path: str) -> tuple[Any, dict[str, list[str]]]:
    """A fresh browser context signed in as ``who``, on ``path``, and what it has seen."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    seen = watch(page)
    await page.goto(base + path)
    assert "/console/login" in page.url, page.url
    await page.fill("#token", token(who))
    await page.click("button[type=submit]")
    await page.wait_for_load_state("domcontentloaded")
    return page, seen


def watch(page: Any) -> dict[str, list[str]]:
    """Record dialogs (dismissed) and console errors (CSP violations show up there)."""
    seen: dict[str, list[str]] = {"dialogs": [], "errors": []}

    async def on_dialog(dialog: Any) -> None:
        seen["dialogs"].append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda msg: seen["errors"].append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
    return seen


async def test_responder_approves_a_real_incident_in_chromium(
    chromium: Any, client: Client, task_queue: str, approval_worker: Worker, tmp_path: Path
) -> None:
    catalog, name = approval_catalog()
    plan = compile_plan(catalog.by_name[name], catalog)
    run = await fl.start_run(client, plan, alert(title=HOSTILE), {}, task_queue=task_queue)
    await wait_for(client, run.run_id, lambda s: s.pending_approvals())
    audit = AuditLog()
    source = TemporalRunSource(lambda: client, list_ttl_s=0.2)
    app = console_app(tmp_path, catalog, source=source, audit=audit, refresh_ms=300)
    ARTIFACTS.mkdir(exist_ok=True)

    async with LocalServer(app) as server:
        # The list: the hostile title is shown as text, nothing runs.
        page, seen = await sign_in(chromium, server.url, "responder", f"/console/?playbook={name}")
        row = page.locator("tr.incident", has=page.get_by_text(HOSTILE, exact=True))
        await row.wait_for()
        assert await row.locator("td.waiting").inner_text() in ("user:U1, group:ml-oncall", "…")
        await page.screenshot(path=str(ARTIFACTS / "console-list.png"), full_page=True)

        # A new incident appears by itself: the list refreshes without a reload.
        second = await fl.start_run(client, plan, alert(title="second incident"), {}, task_queue=task_queue)
        await page.get_by_text("second incident", exact=True).wait_for(timeout=10_000)
        assert await page.locator("tr.incident").count() == 2
        await fl.cancel(client, second.run_id)

        # The incident: graph drawn with the waiting step coloured, the alert escaped.
        await row.get_by_role("link").click()
        await page.wait_for_selector("body[data-graphs=drawn]", timeout=15_000)
        assert await page.locator("g.node.st_waiting").count() == 1
        assert await page.locator("g.node.st_succeeded").count() == 1
        assert await page.locator("h1.alert-title").inner_text() == HOSTILE
        assert await page.get_by_role("link", name="Open in Temporal Web UI").get_attribute("href") == (
            f"http://127.0.0.1:8233/namespaces/default/workflows/{run.run_id}"
        )
        await page.screenshot(path=str(ARTIFACTS / "console-incident.png"), full_page=True)

        # A viewer sees why they cannot decide; a responder who is no approver is refused by the run.
        viewer, _ = await sign_in(chromium, server.url, "viewer", f"/console/runs/{run.run_id}")
        assert "deciding needs the responder or admin role" in await viewer.locator("p.why").inner_text()
        assert await viewer.get_by_role("button", name="Approve").count() == 0
        await viewer.context.close()
        async with httpx.AsyncClient(base_url=server.url) as http:
            refused = await http.post(
                f"/console/runs/{run.run_id}/decide",
                data={"step": "approve", "decision": "approve"},
                headers=bearer("outsider"),
            )
        assert refused.status_code == 409 and "not an approver" in refused.text

        # Approve: the same Update as Slack and the CLI; the run goes on and finishes.
        await page.locator("form.approve input[name=reason]").fill("evidence is clear")
        await page.get_by_role("button", name="Approve").click()
        await page.get_by_text("You approved approve.").wait_for()
        final = await wait_for(client, run.run_id, lambda s: s.status is RunStatus.SUCCEEDED)
        await page.reload()
        await page.wait_for_selector("body[data-graphs=drawn]", timeout=15_000)
        approvals = await page.locator("table.approvals").inner_text()
        assert "user:U1" in approvals and "evidence is clear" in approvals
        await page.screenshot(path=str(ARTIFACTS / "console-incident-approved.png"), full_page=True)

        # The catalog draws the playbook's graph too.
        await page.goto(f"{server.url}/console/playbooks")
        await page.wait_for_selector("body[data-graphs=drawn]", timeout=15_000)
        assert await page.locator(f"#pb-{name} svg").count() == 1
        await page.screenshot(path=str(ARTIFACTS / "console-playbooks.png"), full_page=True)
        await page.context.close()

    approval = final.step("approve")
    assert approval is not None and approval.approval is not None
    assert approval.approval.decided_by == "user:U1" and approval.approval.reason == "evidence is clear"
    assert final.outputs == {"who": "user:U1"}
    assert seen["dialogs"] == [], "the alert title must never run as script"
    # A refresh cut short by a navigation, or answered 503 while the machine is busy, is not a fault.
    transient = ("net::ERR_ABORTED", "status of 503")
    assert [e for e in seen["errors"] if not any(t in e for t in transient)] == [], seen["errors"]
    decided = [e for e in audit.events if e["kind"] == "console.decision"]
    assert [(e["by"], e["decision"], e["step"]) for e in decided] == [("user:U1", "approve", "approve")]
    refused_events = [e for e in audit.events if e["kind"] == "console.decision_refused"]
    assert refused_events and refused_events[0]["user"] == "mallory"
