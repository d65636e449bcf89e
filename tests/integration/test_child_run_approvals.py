"""Approvals inside a child run, decided the three ways responders decide: Slack, the console, the CLI.

``prompt-injection-exfiltration`` hands over to ``data-breach-notification``, which runs as the child
run ``<run>/breach`` and waits there for the DPO twice. The child's own approval request in Slack is
clicked (signed, through the receiver's ``/slack/interactions``); the root run's console page offers
the child's approval and decides it; ``fireline approve`` takes the path as the root run shows it
(``breach.authority_approval``) or as the child does.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from engine import client as fl
from engine.access import Access, AccessSettings
from engine.console import console_routes
from engine.plan.state import RunState, RunStatus, StepStatus
from engine.serve import receiver_extra_routes
from integrations.slack.blocks import DECISION_BLOCK
from integrations.slack.testing import block_action_payload, signed_request
from tests.fixtures.console import AuditLog, bearer, write_tokens
from tests.fixtures.shipped import (
    DPO_MEMBER,
    WEB_UI,
    World,
    alert,
    elasticsearch_url,
    mlflow_uri,
    moto_endpoint,
    smtp_server,
    tls_certificate,
    world,
)
from tests.fixtures.slack import SIGNING_SECRET

__all__ = ["elasticsearch_url", "mlflow_uri", "moto_endpoint", "smtp_server", "tls_certificate", "world"]
ROOT = Path(__file__).parents[2]
#: The console's responder token signs in as U1; here U1 is one of the DPOs.
CONSOLE_GROUPS = {"dpo": ["U1"]}


async def start_exfiltration(world: World) -> tuple[str, str]:
    """A prompt-injection leak; returns the run and its breach-notification child."""
    key = world.litellm.add_key(key_alias=f"trial-{uuid.uuid4().hex[:6]}")
    leak = alert(
        "AI model response PII exposure",
        "support-assistant leaked emails",
        models=["support-assistant"],
        api_keys=[key],
    )
    run_id = await world.start("prompt-injection-exfiltration", leak)
    return run_id, f"{run_id}/breach"


def receiver(world: World, audit: AuditLog, home: Path) -> httpx.AsyncClient:
    """The receiver's Slack and console routes as the stack wires them, over ASGI."""
    config = world.config.model_copy(update={"approver_groups": CONSOLE_GROUPS})  # type: ignore[attr-defined]
    access = Access(AccessSettings(tokens_file=write_tokens(home / "tokens.json")), audit)
    routes = [
        *receiver_extra_routes(config, world.client, audit),  # type: ignore[arg-type]
        *console_routes(config, lambda: world.client, lambda: world.catalog, access=access, audit_fn=audit),
    ]
    transport = httpx.ASGITransport(app=Starlette(routes=routes), client=("203.0.113.7", 40123))
    return httpx.AsyncClient(transport=transport, base_url="http://receiver")


def decided(state: RunState, step: str) -> tuple[str | None, Any]:
    record = state.step(step)
    assert record is not None and record.approval is not None, state.model_dump_json()[:2000]
    return record.approval.decided_by, record.status


async def wait_decided(world: World, run_id: str, step: str) -> RunState:
    for _ in range(200):
        state = await fl.status(world.client, run_id)
        record = state.step(step)
        if record is not None and record.approval is not None and record.approval.decision is not None:
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"{run_id}: {step} was never decided")


async def test_slack_click_and_console_decide_the_approvals_of_a_child_run(
    world: World, tmp_path: Path
) -> None:
    run_id, child = await start_exfiltration(world)
    audit = AuditLog()
    slack = world.slack  # type: ignore[attr-defined]

    # 1. the child posts its approval request; a DPO clicks Approve in Slack
    state = await world.pending(child, "authority_approval", posted=True)
    record = state.step("authority_approval")
    assert record is not None and record.approval is not None
    ref = record.approval.messages[0]
    message = slack.workspace.messages[ref["channel"]][ref["ts"]]
    shown = json.dumps(message["blocks"])
    link = f"{WEB_UI}/namespaces/default/workflows/{urllib.parse.quote(child, safe='')}"
    assert f"<{link}|Open the run>" in shown  # the message links to the run that waits
    click = block_action_payload(
        message["blocks"][-1]["elements"][0]["value"],
        user=DPO_MEMBER,
        channel=ref["channel"],
        message=message,
    )
    request = signed_request(click, SIGNING_SECRET)
    async with receiver(world, audit, tmp_path) as http:
        answer = await http.post("/slack/interactions", content=request.body, headers=request.headers)
        assert answer.status_code == 200
        state = await wait_decided(world, child, "authority_approval")
        assert decided(state, "authority_approval") == (f"user:{DPO_MEMBER}", StepStatus.SUCCEEDED)
        assert [e["kind"] for e in audit.events if e["kind"].startswith("slack.")] == ["slack.decision"]
        updated = slack.workspace.messages[ref["channel"]][ref["ts"]]
        outcome = next(b for b in updated["blocks"] if b.get("block_id") == DECISION_BLOCK)["text"]["text"]
        assert f"*Approved* by <@{DPO_MEMBER}>" in outcome  # the request became its decided form
        assert all(b["type"] != "actions" for b in updated["blocks"])

        # 2. the root run's console page offers the child's next approval; a DPO approves it there
        await world.pending(child, "subjects_approval")
        page = await http.get(f"/console/runs/{run_id}", headers=bearer("responder"))
        assert page.status_code == 200
        assert 'data-step="breach.subjects_approval"' in page.text
        assert 'name="step" value="breach.subjects_approval"' in page.text  # a form the user may send
        assert f'<a href="{link}">child run</a>' in page.text  # the child itself, in the Web UI
        post = await http.post(
            f"/console/runs/{run_id}/decide",
            data={"step": "breach.subjects_approval", "decision": "approve"},
            headers=bearer("responder"),
        )
        assert post.status_code == 303, post.text[:2000]

    final = await world.finish(run_id)
    assert final.status is RunStatus.SUCCEEDED, final.failure
    assert final.outputs["authority_notified"] is True
    breach = await world.finish(child)
    assert decided(breach, "subjects_approval") == ("user:U1", StepStatus.SUCCEEDED)
    assert len(world.smtp.mailbox.delivered) == 2  # type: ignore[attr-defined]  # both notices went out


async def cli(home: Path, *args: str) -> tuple[int, str]:
    env = {**os.environ, "FIRELINE_HOME": str(home)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "engine.cli.entry",
        *args,
        "--config",
        str(home / "fireline.yaml"),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode()


async def test_fireline_approve_decides_the_approvals_of_a_child_run(world: World, tmp_path: Path) -> None:
    home = tmp_path / "cli"
    home.mkdir()
    target = world.client.service_client.config.target_host
    (home / "fireline.yaml").write_text(
        f"temporal: {{ address: '{target}', namespace: default }}\napprover_groups: {{ dpo: [dpo1] }}\n"
    )
    run_id, child = await start_exfiltration(world)

    await world.pending(child, "authority_approval")
    # the path as the root run shows it
    code, out = await cli(home, "approve", run_id, "breach.authority_approval", "--as", "dpo1")
    assert code == 0, out
    assert decided(await fl.status(world.client, child), "authority_approval") == (
        "user:dpo1",
        StepStatus.SUCCEEDED,
    )

    await world.pending(child, "subjects_approval")
    refused = await cli(home, "approve", child, "subjects_approval", "--as", "mallory")
    assert refused[0] == 1 and "not an approver of subjects_approval" in refused[1]
    # the path as the child run (and its Slack message) shows it
    code, out = await cli(home, "approve", child, "subjects_approval", "--as", "dpo1")
    assert code == 0, out

    final = await world.finish(run_id)
    assert final.status is RunStatus.SUCCEEDED, final.failure
    assert decided(await world.finish(child), "subjects_approval") == ("user:dpo1", StepStatus.SUCCEEDED)
