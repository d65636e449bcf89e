"""The shipped playbooks, end to end against the local stack and the real or faithful outside systems,
and a scan of every history, log line, audit document and review of those runs for the secrets used.

Real: Temporal dev server, the local SIEM (noida-db, seeded), MLflow, moto (AWS IAM), aiosmtpd.
Faithful fakes on loopback (no server can run here): LiteLLM, PagerDuty, Slack.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from elasticsearch import Elasticsearch
from temporalio.client import Client

from engine import client as fl
from engine.activities.audit import AUDIT_INDEX_PATTERN, AuditStore
from engine.activities.run_action import ActionRunner
from engine.errors import RunNotFound
from engine.plan.compile import compile_plan
from engine.plan.state import Decision, RunState, RunStatus, StepStatus
from engine.registry import REGISTRY
from engine.spec.catalog import load_catalog
from engine.worker import build_worker
from integrations.aws.testing import admin_client
from integrations.gateway.testing import FakeLiteLLM
from integrations.mlflow.testing import load_model, seed_model
from integrations.pagerduty.testing import FakePagerDuty
from integrations.slack.testing import FakeSlack
from tests.fixtures.elasticsearch import elasticsearch_url
from tests.fixtures.email import PASSWORD, USERNAME, SmtpServer, smtp_server
from tests.fixtures.gateway import MASTER_KEY
from tests.fixtures.http import tls_certificate
from tests.fixtures.mlflow import mlflow_uri
from tests.fixtures.moto import moto_endpoint
from tests.fixtures.pagerduty import ROUTING_KEY
from tests.fixtures.slack import BOT_TOKEN

__all__ = ["elasticsearch_url", "mlflow_uri", "moto_endpoint", "smtp_server", "tls_certificate"]
PLAYBOOKS = Path(__file__).parents[2] / "playbooks"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYFIREL1NE"


class World:
    """Everything the runs talk to, and the secrets they were given."""

    def __init__(self, client: Client, queue: str, es: str, litellm: FakeLiteLLM, pd: FakePagerDuty) -> None:
        self.client, self.queue, self.es, self.litellm, self.pd = client, queue, es, litellm, pd
        self.catalog = load_catalog([PLAYBOOKS])
        self.secrets: dict[str, str] = {}

    async def start(self, playbook: str, alert: dict[str, Any], inputs: dict[str, Any] | None = None) -> str:
        plan = compile_plan(self.catalog.get(playbook), self.catalog)
        from engine.plan.inputs import resolve_inputs

        resolved = resolve_inputs(plan, alert, inputs or {})
        return (await fl.start_run(self.client, plan, alert, resolved, task_queue=self.queue)).run_id

    async def decide_pending(self, run_id: str, step: str, by: str, groups: list[str]) -> None:
        state = None
        for _ in range(300):
            try:
                state = await fl.status(self.client, run_id)
            except RunNotFound:  # a child run that has not started yet
                await asyncio.sleep(0.1)
                continue
            if any(r.path == step for r in state.pending_approvals()):
                await fl.decide(self.client, run_id, step, Decision.APPROVE, by, groups=groups)
                return
            await asyncio.sleep(0.1)
        shown = state.model_dump_json()[:2000] if state else "never started"
        raise AssertionError(f"{run_id}: {step} never became pending: {shown}")

    async def finish(self, run_id: str) -> RunState:
        await self.client.get_workflow_handle(run_id).result()
        return await fl.status(self.client, run_id)


def alert(rule: str, title: str, **entities: list[str]) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": f"e2e-{uuid.uuid4().hex[:8]}",
        "source": "elastic",
        "rule": rule,
        "title": title,
        "severity": "critical",
        "fingerprint": uuid.uuid4().hex,
        "occurred_at": now,
        "received_at": now,
        "entities": {"hosts": [], "users": [], "ips": [], "api_keys": [], "models": [], **entities},
        "fields": {},
    }


@pytest_asyncio.fixture
async def world(
    client: Client,
    task_queue: str,
    elasticsearch_url: str,
    mlflow_uri: str,
    moto_endpoint: str,
    smtp_server: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[World]:
    from integrations.elasticsearch.seed import seed_sample_data

    await asyncio.to_thread(seed_sample_data, elasticsearch_url)
    secrets = {
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SMTP_USERNAME": USERNAME,
        "SMTP_PASSWORD": PASSWORD,
        "AWS_ACCESS_KEY_ID": "AKIAFIRELINETEST0001",
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)  # where a deployment keeps them: the worker's environment
    with FakeLiteLLM(MASTER_KEY) as litellm, FakePagerDuty() as pd, FakeSlack(BOT_TOKEN) as slack:
        slack.workspace.add_channel("ai-incidents", id="C0INCIDENT")
        settings = {
            "ELASTICSEARCH_URL": elasticsearch_url,
            "MLFLOW_TRACKING_URI": mlflow_uri,
            "AWS_ENDPOINT_URL": moto_endpoint,
            "AWS_REGION": "us-east-1",
            "LITELLM_URL": litellm.base_url,
            "PAGERDUTY_EVENTS_URL": pd.base_url,
            "SLACK_API_URL": slack.api_url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_server.port),
            "SMTP_CA_FILE": str(smtp_server.cert.cert_file),
            "SMTP_FROM": "fireline@example.com",
            "FIRELINE_HOME": str(tmp_path),
        }
        runner = ActionRunner(REGISTRY, settings=settings, audit=AuditStore(elasticsearch_url))
        # The worker reads settings per attempt, so a test can add one later (the signing key).
        async with build_worker(client, task_queue, runner=runner):
            found = World(client, task_queue, elasticsearch_url, litellm, pd)
            # Key ids and user names identify, they are not secret (and "fireline" is everywhere).
            found.secrets = {
                k: v for k, v in secrets.items() if k not in ("AWS_ACCESS_KEY_ID", "SMTP_USERNAME")
            }
            found.slack = slack  # type: ignore[attr-defined]
            found.smtp = smtp_server  # type: ignore[attr-defined]
            found.mlflow = mlflow_uri  # type: ignore[attr-defined]
            found.moto = moto_endpoint  # type: ignore[attr-defined]
            found.home = tmp_path  # type: ignore[attr-defined]
            found.settings = settings  # type: ignore[attr-defined]
            yield found


def status_of(state: RunState) -> dict[str, str]:
    return {r.path: r.status.value for r in state.steps}


async def run_all(world: World) -> list[str]:
    # 1. a leaked key: blocked at the gateway at once, rotated and AWS key deactivated after approval
    key = world.litellm.add_key(key_alias="partner-ledgerly")
    iam = admin_client(world.moto)  # type: ignore[attr-defined]
    user = f"svc-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    access_key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    leaked = await world.start(
        "revoke-leaked-api-key",
        alert("AI model API key used from many new source IPs", "key used from 48 new IPs", api_keys=[key]),
        {"aws_access_key_id": access_key},
    )
    await world.decide_pending(leaked, "approve", "user:U7", ["platform-oncall"])
    revoke = await world.finish(leaked)
    assert revoke.status is RunStatus.SUCCEEDED, revoke.failure
    assert status_of(revoke) | {
        "block": "succeeded",
        "contain.rotate": "succeeded",
        "contain.aws_key": "succeeded",
    } == status_of(revoke)
    assert (
        world.litellm.record(key) is None or world.litellm.record(key)["blocked"]
    )  # rotated away or blocked
    statuses = {
        k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    }
    assert statuses[access_key] == "Inactive"
    assert world.pd.open_alerts(), "PagerDuty was not paged"

    # 2. a compromised model: quarantined in MLflow after approval, serving falls back, review written
    model = f"e2e-model-{uuid.uuid4().hex[:6]}"
    seed_model(world.mlflow, model, versions=3, verified=[1, 2])  # type: ignore[attr-defined]
    compromised = await world.start(
        "quarantine-compromised-model",
        alert("AI model compromise: backdoor", f"{model} backdoor", models=[model]),
    )
    await world.decide_pending(compromised, "approve", "user:U024BE7LH", [])
    quarantine = await world.finish(compromised)
    assert quarantine.status is RunStatus.SUCCEEDED, quarantine.failure
    assert quarantine.outputs["quarantined"] is True and quarantine.outputs["serving_version"] == 2
    state = load_model(world.mlflow, model)  # type: ignore[attr-defined]
    assert state.aliases.get("production") == "2" or getattr(state, "aliases", {}).get("production") in (
        2,
        "2",
    )
    assert Path(quarantine.outputs["review"]).is_file()
    assert world.slack.calls("chat.postMessage")  # type: ignore[attr-defined]

    # 3. personal data leaked through prompt injection: contained, then breach notices after DPO approval
    pii_key = world.litellm.add_key(key_alias="trial-user")
    exfil = await world.start(
        "prompt-injection-exfiltration",
        alert(
            "AI model response PII exposure",
            "support-assistant leaked emails",
            models=["support-assistant"],
            api_keys=[pii_key],
        ),
    )
    await world.decide_pending(f"{exfil}/breach", "authority_approval", "user:dpo1", ["dpo"])
    await world.decide_pending(f"{exfil}/breach", "subjects_approval", "user:dpo1", ["dpo"])
    breach = await world.finish(exfil)
    assert breach.status is RunStatus.SUCCEEDED, breach.failure
    assert breach.outputs["authority_notified"] is True and breach.outputs["records"] > 0
    sent = world.smtp.mailbox.delivered  # type: ignore[attr-defined]
    assert len(sent) == 2 and "breach-desk@dpa.example.eu" in str(sent[0])
    child = await fl.status(world.client, f"{exfil}/breach")
    assert child.step("authority_evidence").status is StepStatus.SUCCEEDED  # type: ignore[union-attr]

    # 4. model scraping: measured, capped at the gateway at once, blocked after approval
    scraper = world.litellm.add_key(key_alias="partner-scraper")
    abuse = await world.start(
        "model-abuse-throttle",
        alert(
            "AI model extraction: systematic queries",
            "scraping fraud-scorer",
            api_keys=[scraper],
            models=["fraud-scorer"],
        ),
    )
    await world.decide_pending(abuse, "approve_block", "user:U9", ["ml-oncall"])
    throttle = await world.finish(abuse)
    assert throttle.status is RunStatus.SUCCEEDED, throttle.failure
    assert throttle.outputs == {"throttled": True, "blocked": True}
    record = world.litellm.record(scraper)
    assert record is not None and record["blocked"] and record["rpm_limit"] == 10

    # 5. a tampered model artifact: verification fails, the version is quarantined, serving rolls back
    from integrations.model.testing import sign_with_key, write_key_pair

    artifact = world.home / "models" / "fraud-scorer"  # type: ignore[attr-defined]
    artifact.mkdir(parents=True)
    (artifact / "weights.bin").write_bytes(b"\x00" * 1024)
    (artifact / "config.json").write_text('{"layers": 4}')
    keys = write_key_pair(world.home / "keys")  # type: ignore[attr-defined]
    sign_with_key(artifact, artifact / "model.sig", keys.private_key)
    (artifact / "weights.bin").write_bytes(b"\x01" * 1024)  # tampered after signing
    signed_model = f"e2e-signed-{uuid.uuid4().hex[:6]}"
    seed_model(world.mlflow, signed_model, versions=3, verified=[1])  # type: ignore[attr-defined]
    integrity_alert = alert(
        "Model artifact signature check failed", "artifact changed", models=[signed_model]
    )
    integrity_alert["fields"] = {"ml": {"model": {"version": 3, "path": str(artifact)}}}
    world.settings["MODEL_SIGNING_PUBLIC_KEY"] = str(keys.public_key)  # type: ignore[attr-defined]
    integrity = await world.start("model-integrity-violation", integrity_alert)
    await world.decide_pending(integrity, "approve", "user:U1", ["ml-oncall"])
    verdict = await world.finish(integrity)
    assert verdict.status is RunStatus.SUCCEEDED, verdict.failure
    assert verdict.outputs["verified"] is False and verdict.outputs["serving_version"] == 1
    assert verdict.step("verify").output["failure"] == "model_modified"  # type: ignore[union-attr]

    # 6. a death linked to a high-risk AI system: EU AI Act Art. 73(4) initial report, then the complete one
    mailed = len(world.smtp.mailbox.delivered)  # type: ignore[attr-defined]
    aware = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ai_act = await world.start(
        "eu-ai-act-serious-incident",
        alert("High-risk AI system serious incident", "triage advice linked to a death", models=["triage"]),
        {"aware_at": aware, "harms": ["death"], "system": "triage-assistant"},
    )
    await world.decide_pending(ai_act, "initial_approval", "user:counsel", ["ai-compliance"])
    await world.decide_pending(ai_act, "follow_up_approval", "user:counsel", ["legal"])
    reported = await world.finish(ai_act)
    assert reported.status is RunStatus.SUCCEEDED, reported.failure
    assert reported.outputs["regime"] == "art73(4)" and reported.outputs["deadline_met"] is True
    assert reported.outputs["complete_reported"] is True
    assert reported.classification.atlas == ["AML.T0048"]
    reports = world.smtp.mailbox.delivered[mailed:]  # type: ignore[attr-defined]
    assert len(reports) == 2 and all(m.recipients == ["ai-incidents@msa.example.eu"] for m in reports)
    assert "art73(4), initial" in str(reports[0].message["Subject"])
    assert "art73(4), complete" in str(reports[1].message["Subject"])
    assert "not later than 10 days" in reports[0].message.get_body(("plain",)).get_content()
    with Elasticsearch(world.es) as es:
        es.indices.refresh(index="fireline-ai-act-reports")
        found = es.search(index="fireline-ai-act-reports", query={"term": {"run.keyword": ai_act}}, size=10)
    evidence = {h["_source"]["report"]: h["_source"] for h in found["hits"]["hits"]}
    assert evidence["initial"]["deadline_met"] is True and evidence["initial"]["regime"] == "art73(4)"
    assert evidence["initial"]["deadline"] == reported.outputs["deadline"] and evidence["initial"]["sent_at"]
    assert evidence["complete"]["follows"] == evidence["initial"]["message_id"]
    return [leaked, compromised, exfil, f"{exfil}/breach", abuse, integrity, ai_act]


async def test_shipped_playbooks_end_to_end_and_no_secret_leaks_anywhere(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    run_ids = await run_all(world)

    # every history (children and reviews included), every log line, every audit document, every review
    histories = []
    async for wf in world.client.list_workflows(
        " OR ".join(f'WorkflowId STARTS_WITH "{r}"' for r in run_ids)
    ):
        history = await world.client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
        histories.append(b"".join(e.SerializeToString() for e in history.events))
    assert len(histories) >= len(run_ids) + 2  # the review children too
    with Elasticsearch(world.es) as es:
        es.indices.refresh(index=AUDIT_INDEX_PATTERN)
        audit = es.search(index=AUDIT_INDEX_PATTERN, query={"terms": {"fireline.run.id": run_ids}}, size=2000)
    audit_text = json.dumps(audit["hits"]["hits"])
    assert audit["hits"]["total"]["value"] > 50
    reviews = "".join(p.read_text() for p in (world.home / "reviews").glob("*"))  # type: ignore[attr-defined]
    logs = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    slack_text = json.dumps([c.args for c in world.slack.calls("chat.postMessage")], default=str)  # type: ignore[attr-defined]
    for name, value in world.secrets.items():
        for where, text in (
            ("audit", audit_text),
            ("reviews", reviews),
            ("logs", logs),
            ("slack", slack_text),
        ):
            assert value not in text, f"{name} found in {where}"
        assert all(value.encode() not in blob for blob in histories), f"{name} found in a history"
