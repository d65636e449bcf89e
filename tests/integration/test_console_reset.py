"""Re-running a failed run from a step in the console, over real HTTP and a real Temporal run."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from engine import client as fl
from engine.console.source import TemporalRunSource
from engine.plan.compile import compile_plan
from engine.plan.state import Decision, RunStatus
from engine.spec.catalog import Catalog, validate_text
from tests.fixtures.actions import BROKEN, TEST_REGISTRY
from tests.fixtures.console import AuditLog, LocalServer, bearer, console_app, token
from tests.integration.test_console_browser import approval_worker
from tests.workflow.test_playbook_run import HEAD, alert, wait_for
from tests.workflow.test_reset import playbook

__all__ = ["approval_worker"]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def reset_catalog(target: str) -> tuple[Catalog, str]:
    name = f"reset-{uuid.uuid4().hex[:8]}"
    body = playbook(target).replace("quarantine-after-approval", name)
    entry = validate_text(HEAD + body, "reset.yaml", TEST_REGISTRY)
    assert entry.diagnostics == [], [d.render() for d in entry.diagnostics]
    return Catalog(entries=[entry], by_name={name: entry}), name


async def sign_in(http: httpx.AsyncClient, who: str, page_url: str) -> str:
    """A cookie session for ``who``; returns the CSRF token its pages carry."""
    form = await http.get("/console/login", params={"next": page_url})
    login_csrf = CSRF.search(form.text)
    assert login_csrf is not None
    answer = await http.post(
        "/console/login", data={"csrf_token": login_csrf.group(1), "token": token(who), "next": page_url}
    )
    assert answer.status_code == 303
    page = await http.get(page_url)
    found = CSRF.search(page.text)
    assert page.status_code == 200 and found is not None
    return found.group(1)


async def test_an_admin_reruns_the_failed_step_from_the_console_and_it_is_audited(
    client: Client, task_queue: str, approval_worker: Worker, tmp_path: Path
) -> None:
    target = f"registry-{uuid.uuid4().hex[:6]}"
    BROKEN.add(target)
    catalog, name = reset_catalog(target)
    plan = compile_plan(catalog.by_name[name], catalog, TEST_REGISTRY)
    run = await fl.start_run(client, plan, alert(), {}, task_queue=task_queue)
    await wait_for(client, run.run_id, lambda s: s.pending_approvals())
    await fl.decide(client, run.run_id, "approve", Decision.APPROVE, "user:U1")
    await client.get_workflow_handle(run.run_id).result()
    assert (await fl.status(client, run.run_id)).status is RunStatus.FAILED

    audit = AuditLog()
    source = TemporalRunSource(lambda: client, list_ttl_s=0.1)
    app = console_app(tmp_path, catalog, source=source, audit=audit)
    url = f"/console/runs/{run.run_id}"
    async with LocalServer(app) as server, httpx.AsyncClient(base_url=server.url) as http:
        # a responder sees no reset form and is refused the POST
        responder_page = await http.get(url, headers=bearer("responder"))
        assert "Re-run from a step" not in responder_page.text
        refused = await http.post(
            f"{url}/reset", data={"step": "quarantine", "reason": "x"}, headers=bearer("responder")
        )
        assert refused.status_code == 403

        csrf = await sign_in(http, "admin", url)
        page = await http.get(url)
        assert '<option value="quarantine" selected>quarantine</option>' in page.text
        no_csrf = await http.post(f"{url}/reset", data={"step": "quarantine", "reason": "back up"})
        assert no_csrf.status_code == 403
        no_reason = await http.post(f"{url}/reset", data={"step": "quarantine", "csrf_token": csrf})
        assert no_reason.status_code == 400 and "a reset needs a reason" in no_reason.text
        unknown = await http.post(
            f"{url}/reset", data={"step": "nope", "reason": "why not", "csrf_token": csrf}
        )
        assert unknown.status_code == 409 and "has no step &#39;nope&#39;" in unknown.text
        assert (await fl.status(client, run.run_id)).resets == []  # nothing was reset by refusals

        BROKEN.discard(target)  # the registry is back
        done = await http.post(
            f"{url}/reset", data={"step": "quarantine", "reason": "registry is back", "csrf_token": csrf}
        )
        assert done.status_code == 303 and done.headers["location"].endswith("?done=reset&step=quarantine")

        await client.get_workflow_handle(run.run_id).result()
        state = await fl.status(client, run.run_id)
        assert state.status is RunStatus.SUCCEEDED, state.failure
        [reset] = state.resets
        assert (reset.by, reset.via, reset.reason) == ("user:ada", "console", "registry is back")
        shown = await http.get(done.headers["location"])
        assert "The run was re-run from quarantine." in shown.text
        assert "<td>user:ada</td><td>console</td>" in shown.text

    kinds = audit.kinds()
    assert kinds.count("console.reset_refused") >= 2 and kinds.count("console.reset") == 1
    [ok] = [e for e in audit.events if e["kind"] == "console.reset"]
    assert (ok["step"], ok["by"], ok["to_run"]) == ("quarantine", "user:ada", reset.to_run)
