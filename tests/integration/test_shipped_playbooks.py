"""The shipped playbooks, end to end against the local stack and the real or faithful outside systems
(:mod:`tests.fixtures.shipped`), and a scan of every history, log line, audit document, review and
Slack message of those runs for the secrets used."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from engine import client as fl
from engine.activities.audit import AUDIT_INDEX_PATTERN
from engine.plan.state import RunState, RunStatus, StepStatus
from integrations.aws.testing import admin_client
from integrations.mlflow.testing import load_model, seed_model
from tests.fixtures.shipped import (
    World,
    alert,
    elasticsearch_url,
    mlflow_uri,
    moto_endpoint,
    smtp_server,
    tls_certificate,
    world,
)

__all__ = ["elasticsearch_url", "mlflow_uri", "moto_endpoint", "smtp_server", "tls_certificate", "world"]


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
