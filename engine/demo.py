"""`make demo`: a real AI incident, end to end, on the embedded local stack."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from engine import client as fl
from engine.alerts.elastic import normalize_elastic
from engine.cli.common import console
from engine.cli.render import print_run
from engine.errors import StackError
from engine.plan.compile import compile_plan
from engine.plan.inputs import resolve_inputs
from engine.plan.state import RunState, RunStatus
from engine.serve import serve_worker
from engine.settings import Settings
from engine.spec.catalog import load_catalog
from engine.stack.local import LocalStack

DEMO_PLAYBOOK = "prompt-injection-response"
DEMO_APPROVER = "user:U024BE7LH"


def _demo_settings(home: Path) -> Settings:
    base = Settings.load()
    data = base.model_dump()
    data["home"] = str(home)
    data["temporal"]["address"] = None
    data["temporal"]["ports"] = {"grpc": 0, "ui": 0, "http": 0}
    data["elasticsearch"]["url"] = None
    data["elasticsearch"]["port"] = 0
    return Settings.model_validate(data)


async def _wait_for_approval(client: object, run_id: str, within_s: float = 60.0) -> RunState:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        state = await fl.status(client, run_id)  # type: ignore[arg-type]
        if state.pending_approvals() or state.status is not RunStatus.RUNNING:
            return state
        await asyncio.sleep(0.2)
    raise StackError(f"run {run_id} did not reach its approval within {within_s:.0f}s")


def _approve_as_responder(home: Path, run_id: str, step: str) -> None:
    """Approve exactly as a responder would: through the `fireline approve` command."""
    env = {**os.environ, "FIRELINE_HOME": str(home)}
    argv = [sys.executable, "-m", "engine.cli.entry", "approve", run_id, step, "--as", DEMO_APPROVER]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    console.print(f"$ fireline approve {run_id} {step} --as {DEMO_APPROVER}\n{done.stdout.strip()}")
    if done.returncode != 0:
        raise StackError(f"fireline approve failed: {done.stderr.strip()}")


async def run_demo(home: Path, playbooks: Path = Path("playbooks")) -> int:
    """Start the stack, fire the sample incident, approve, print the timeline; 0 when it succeeded."""
    from integrations.elasticsearch.sample_catalog import INCIDENTS, SampleIncident
    from integrations.elasticsearch.seed import seed_sample_data

    home = await asyncio.to_thread(home.resolve)
    await asyncio.to_thread(shutil.rmtree, home, True)
    settings = _demo_settings(home)
    catalog = load_catalog([playbooks])
    plan = compile_plan(catalog.get(DEMO_PLAYBOOK), catalog)
    started_at = time.monotonic()
    async with LocalStack(settings) as stack:
        es_url = stack.elasticsearch_url or ""
        seeded = await asyncio.to_thread(seed_sample_data, es_url)
        console.print(f"local stack up: Temporal {stack.temporal_address}, Elasticsearch {es_url}")
        console.print(f"seeded {seeded.log_count} gateway log lines and {seeded.alert_count} security alerts")
        client = await fl.connect_configured(settings, stack.connect_args())
        stop = asyncio.Event()
        worker = asyncio.create_task(serve_worker(client, settings, elasticsearch_url=es_url, stop=stop))
        try:
            spec = INCIDENTS[SampleIncident.PROMPT_INJECTION]
            doc = await asyncio.to_thread(_read_alert_doc, es_url, seeded.alerts_index, spec.alert_id)
            alert = normalize_elastic(doc, received_at=datetime.now(UTC)).alerts[0]
            console.print(
                f"alert fired: [bold]{alert.title}[/] ({alert.severity.value}) on {alert.entities.models}"
            )
            view = alert.template_view()
            inputs = resolve_inputs(plan, view, {})
            run = await fl.start_run(client, plan, view, inputs, task_queue=settings.temporal.task_queue)
            console.print(f"playbook {plan.name} v{plan.version} started as run {run.run_id}")
            state = await _wait_for_approval(client, run.run_id)
            for pending in state.pending_approvals():
                assert pending.approval is not None
                console.print(f"approval requested: {pending.approval.title} — {pending.approval.details}")
                await asyncio.to_thread(_approve_as_responder, home, run.run_id, pending.path)
            await client.get_workflow_handle(run.run_id).result()
            final = await fl.status(client, run.run_id)
        finally:
            stop.set()
            await worker
    print_run(console, final)
    console.print(f"demo finished in {time.monotonic() - started_at:.1f} s; stack stopped")
    return 0 if final.status is RunStatus.SUCCEEDED else 1


def _read_alert_doc(es_url: str, index: str, alert_id: str) -> dict[str, object]:
    from elasticsearch import Elasticsearch

    with Elasticsearch(es_url) as es:
        found = es.get(index=index, id=alert_id)
        return dict(found["_source"])
