"""Edit-then-approve and first-decision-wins in the console, over real HTTP and a real Temporal run."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from engine import client as fl
from engine.console.source import TemporalRunSource
from engine.plan.compile import compile_plan
from engine.plan.state import RunStatus
from engine.spec.catalog import Catalog, validate_text
from tests.fixtures.actions import TEST_REGISTRY
from tests.fixtures.console import LocalServer, bearer, console_app
from tests.integration.test_console_browser import approval_worker
from tests.workflow.test_approval_edits import EDITABLE_PLAYBOOK, LEAKED, SPARE
from tests.workflow.test_playbook_run import HEAD, alert, wait_for

__all__ = ["approval_worker"]


def editable_catalog() -> tuple[Catalog, str]:
    name = f"edits-{uuid.uuid4().hex[:8]}"
    body = EDITABLE_PLAYBOOK.replace("edit-then-approve", name).replace(
        "approvers: [user:U1, user:U2]", "approvers: [user:U1, group:ml-oncall]"
    )
    entry = validate_text(HEAD + body, "edits.yaml", TEST_REGISTRY)
    assert entry.diagnostics == [], [d.render() for d in entry.diagnostics]
    return Catalog(entries=[entry], by_name={name: entry}), name


async def test_the_console_prefills_checks_and_records_edits_and_the_second_decision_is_told_who(
    client: Client, task_queue: str, approval_worker: Worker, tmp_path: Path
) -> None:
    catalog, name = editable_catalog()
    plan = compile_plan(catalog.by_name[name], catalog, TEST_REGISTRY)
    run = await fl.start_run(client, plan, alert(), {}, task_queue=task_queue)
    await wait_for(client, run.run_id, lambda s: s.pending_approvals())
    app = console_app(tmp_path, catalog, source=TemporalRunSource(lambda: client, list_ttl_s=0.1))
    url = f"/console/runs/{run.run_id}"
    async with LocalServer(app) as server, httpx.AsyncClient(base_url=server.url) as http:
        page = await http.get(url, headers=bearer("responder"))
        assert f'name="set.keys" rows="3" spellcheck="false">["{LEAKED}", "{SPARE}"]</textarea>' in page.text

        def decide(keys: str) -> dict[str, str]:
            return {"step": "approve", "decision": "approve", "set.keys": keys}

        not_json = await http.post(f"{url}/decide", data=decide("[AKIA"), headers=bearer("responder"))
        assert not_json.status_code == 400 and "keys: not JSON" in not_json.text
        bad = await http.post(
            f"{url}/decide", data=decide('["akia-lower-case-key"]'), headers=bearer("responder")
        )
        assert bad.status_code == 409
        assert "edited block.keys[0]: &#39;akia-lower-case-key&#39; does not match" in bad.text
        assert (await fl.status(client, run.run_id)).pending_approvals()  # nothing was decided

        ok = await http.post(f"{url}/decide", data=decide(f'["{LEAKED}"]'), headers=bearer("responder"))
        assert ok.status_code == 303
        second = await http.post(
            f"{url}/decide", data={"step": "approve", "decision": "approve"}, headers=bearer("groupie")
        )
        assert second.status_code == 409
        assert "approve was already approved by user:U1 at " in second.text and "via console" in second.text

        await client.get_workflow_handle(run.run_id).result()
        final = await fl.status(client, run.run_id)
        assert final.status is RunStatus.SUCCEEDED and final.outputs == {"blocked": [LEAKED]}
        shown = await http.get(url, headers=bearer("viewer"))
        assert (
            f'edited block.keys: <code>["{LEAKED}", "{SPARE}"]</code> → <code>["{LEAKED}"]</code>'
            in shown.text
        )
