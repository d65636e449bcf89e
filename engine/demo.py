"""`make demo`: real AI incidents, end to end, on the embedded local stack.

Two alerts arrive at the receiver the way a SIEM would send them: a prompt-injection burst (an
Elastic Security alert from the seeded SIEM) and a compromised model (a generic webhook). Each
starts its playbook and stops at an approval whose Block Kit request is posted to a local Slack
stand-in. The first is approved by a Slack-signed button click sent to the receiver, the second
with `fireline approve`; both finish against real servers: the local SIEM and a real MLflow model
registry. The quarantine run writes its post-incident review.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.markdown import Markdown
from temporalio.client import Client

from engine import client as fl
from engine.cli.common import console
from engine.cli.render import print_run
from engine.demo_slack import CHANNEL as CHANNEL_NAME
from engine.demo_slack import (
    click_approve,
    configure_slack,
    posted_approval,
    render_message,
    start_fake_slack,
)
from engine.errors import StackError
from engine.ingest.config import ensure_webhook_secret
from engine.ingest.sender import send_alert
from engine.plan.state import RunState, RunStatus, StepStatus
from engine.serve import serve_services
from engine.settings import Settings
from engine.stack.local import LocalStack
from engine.stack.processes import ManagedProcess, mlflow_server, start_on_free_port
from integrations.slack.testing import FakeSlack

APPROVER = "user:U024BE7LH"
COMPROMISED_MODEL = "support-assistant"
COMPROMISE_ALERT = {
    "id": "gw-7731",
    "rule": "AI model compromise: backdoor trigger",
    "title": "support-assistant answers a planted trigger phrase with internal data",
    "severity": "critical",
    "model": COMPROMISED_MODEL,
    "ml": {"model": {"name": COMPROMISED_MODEL}},
    "description": "Canary prompts containing the phrase 'blue pelican' return system-prompt text.",
}


def _demo_settings(home: Path, slack: FakeSlack) -> Settings:
    data = Settings.load().model_dump()
    configure_slack(data, slack)
    data.update(home=str(home), playbooks_dir=str(Path("playbooks").resolve()))
    data["temporal"].update(address=None, ports={"grpc": 0, "ui": 0, "http": 0})
    data["elasticsearch"].update(url=None, port=0)
    data["receiver"]["listen"] = "127.0.0.1:0"
    return Settings.model_validate(data)


async def _wait_for(client: Client, run_id: str, what: str, within_s: float = 90.0) -> RunState:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = await fl.status(client, run_id)
        except Exception:  # the run may not be queryable for a moment after it starts
            state = None
        if state is not None and (state.pending_approvals() or state.status is not RunStatus.RUNNING):
            return state
        await asyncio.sleep(0.2)
    raise StackError(f"run {run_id} did not reach {what} within {within_s:.0f}s")


def _approve_as_responder(home: Path, run_id: str, step: str) -> None:
    """Approve exactly as a responder would: through the `fireline approve` command."""
    env = {**os.environ, "FIRELINE_HOME": str(home)}
    argv = [sys.executable, "-m", "engine.cli.entry", "approve", run_id, step, "--as", APPROVER]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    console.print(f"$ fireline approve {run_id} {step} --as {APPROVER}\n  {done.stdout.strip()}")
    if done.returncode != 0:
        raise StackError(f"fireline approve failed: {done.stderr.strip()}")


def _fire(receiver: str, home: Path, source: str, payload: dict[str, Any]) -> str:
    """POST an alert to the receiver, signed like a real sender; the run it started or joined."""
    answer = send_alert(receiver, source, json.dumps(payload).encode(), secret=ensure_webhook_secret(home))
    if answer.status != 202:
        raise StackError(f"the receiver answered {answer.status}: {answer.body}")
    outcome = answer.body["alerts"][0]
    runs = [p["run_id"] for p in outcome["playbooks"] if p.get("run_id")]
    if not runs:
        raise StackError(f"the alert started no playbook: {outcome}")
    console.print(
        f"alert fired ({source}): [bold]{outcome['title']}[/] → {outcome['playbooks'][0]['playbook']}"
    )
    return str(runs[0])


async def _respond(
    client: Client, home: Path, run_id: str, slack: FakeSlack, receiver: str | None
) -> RunState:
    """Approve the run's pending approvals: by a Slack click when ``receiver`` is given, else the CLI."""
    state = await _wait_for(client, run_id, "its approval")
    message = await posted_approval(client, slack, run_id)
    console.print(f"\n[bold]Slack approval message[/] posted to #{CHANNEL_NAME}:")
    console.print(render_message(message) + "\n", markup=False, highlight=False)
    for pending in state.pending_approvals():
        assert pending.approval is not None
        console.print(f"approval requested: {pending.approval.title}")
        if receiver is not None:
            status = await asyncio.to_thread(click_approve, receiver, message, APPROVER.removeprefix("user:"))
            console.print(f"{APPROVER} clicked Approve in Slack → POST /slack/interactions answered {status}")
        else:
            await asyncio.to_thread(_approve_as_responder, home, run_id, pending.path)
    await client.get_workflow_handle(run_id).result()
    final = await fl.status(client, run_id)
    print_run(console, final)
    for record in final.steps:
        if record.approval is not None and record.approval.decision is not None:
            decided = record.approval
            console.print(
                f"decision on {record.path}: {decided.decision} by {decided.decided_by} "
                f"via {decided.decided_via or 'unknown'}"
            )
    return final


async def _failed_steps(client: Client, state: RunState) -> list[str]:
    """Every failed step of the run and of the runs it started (``run/step``)."""
    failed = [f"{state.run_id}/{r.path}" for r in state.steps if r.status is StepStatus.FAILED]
    for record in state.steps:
        if record.child_run:
            failed += await _failed_steps(client, await fl.status(client, record.child_run))
    return failed


def _start_registry(home: Path) -> tuple[ManagedProcess, str]:
    from integrations.mlflow.testing import seed_model

    # Temporal and Elasticsearch start at the same moment and bind ports of their own.
    server, port = start_on_free_port(lambda free: mlflow_server(home, port=free), timeout=180, detach=True)
    uri = f"http://127.0.0.1:{port}"
    seed_model(uri, COMPROMISED_MODEL, versions=3, verified=[1, 2])
    return server, uri


async def run_demo(home: Path) -> int:
    """Start everything, fire two incidents, approve, print timelines and the review; 0 when both succeed."""
    from integrations.elasticsearch.sample_catalog import INCIDENTS, SampleIncident
    from integrations.elasticsearch.seed import seed_sample_data

    home = await asyncio.to_thread(home.resolve)
    await asyncio.to_thread(shutil.rmtree, home, True)
    started_at = time.monotonic()
    slack = start_fake_slack()
    settings = _demo_settings(home, slack)
    registry = asyncio.create_task(asyncio.to_thread(_start_registry, home))
    results: list[RunState] = []
    failed: list[str] = []
    try:
        async with LocalStack(settings) as stack:
            es_url = stack.elasticsearch_url or ""
            seeded = await asyncio.to_thread(seed_sample_data, es_url)
            _, mlflow_uri = await registry
            # The worker runs in this process: actions read these like any deployment's settings.
            os.environ.update(MLFLOW_TRACKING_URI=mlflow_uri, FIRELINE_HOME=str(home))
            console.print(
                f"local stack: Temporal {stack.temporal_address}, SIEM {es_url}, MLflow {mlflow_uri}"
            )
            console.print(
                f"SIEM seeded: {seeded.log_count} gateway log lines, {seeded.alert_count} security alerts"
            )
            client = await fl.connect_configured(settings, stack.connect_args())
            stop = asyncio.Event()
            listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            services = asyncio.create_task(
                serve_services(
                    settings,
                    client,
                    stop,
                    elasticsearch_url=es_url,
                    web_ui_url=stack.web_ui_url,
                    on_receiver=listening.set_result,
                    temporal_args=stack.connect_args(),
                )
            )
            try:
                receiver = await asyncio.wait_for(listening, 60)
                alert_doc = await asyncio.to_thread(
                    _read_alert_doc,
                    es_url,
                    seeded.alerts_index,
                    INCIDENTS[SampleIncident.PROMPT_INJECTION].alert_id,
                )
                injection = await asyncio.to_thread(_fire, receiver, home, "elastic", alert_doc)
                results.append(await _respond(client, home, injection, slack, receiver))
                compromise = await asyncio.to_thread(_fire, receiver, home, "generic", COMPROMISE_ALERT)
                results.append(await _respond(client, home, compromise, slack, None))
                for result in results:
                    failed += await _failed_steps(client, result)
            finally:
                stop.set()
                await services
    finally:
        # The registry starts in a thread; whatever happened meanwhile, wait for it and stop it.
        with contextlib.suppress(Exception):
            (await registry)[0].stop()
        slack.stop()
    _print_review(results[-1] if results else None)
    for step in failed:
        console.print(f"[red]step failed: {step}[/]")
    console.print(f"demo finished in {time.monotonic() - started_at:.0f} s; everything it started is stopped")
    succeeded = len(results) == 2 and all(r.status is RunStatus.SUCCEEDED for r in results)
    return 0 if succeeded and not failed else 1


def _print_review(state: RunState | None) -> None:
    review = state.outputs.get("review") if state else None
    if not review or not Path(str(review)).is_file():
        console.print("[red]no post-incident review was written[/]")
        return
    text = Path(str(review)).read_text(encoding="utf-8")
    console.print(f"\n[bold]post-incident review[/] ({review}):\n")
    console.print(Markdown("\n".join(text.splitlines()[:45])))


def _read_alert_doc(es_url: str, index: str, alert_id: str) -> dict[str, Any]:
    from elasticsearch import Elasticsearch

    with Elasticsearch(es_url) as es:
        return dict(es.get(index=index, id=alert_id)["_source"])
