"""Encrypted history on a real server: no plaintext at rest, keys rotate, the codec server decrypts."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from google.protobuf import json_format
from starlette.testclient import TestClient
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine import client as fl
from engine.activities.run_action import ActionRunner
from engine.codec import AesGcmCodec, data_converter, load_keys
from engine.codec_server import codec_app
from engine.plan.state import Decision
from engine.privacy import Pseudonymizer
from engine.worker import build_worker
from tests.fixtures.actions import TEST_REGISTRY
from tests.workflow.test_playbook_run import alert, plan_of, wait_for

PLAYBOOK = """\
metadata: { name: protected-run, version: 1 }
inputs:
  who: { type: string, default: "{{ alert.fields.user.email }}" }
steps:
  - id: evidence
    uses: core.echo
    with: { message: "evidence-output-{{ alert.title }}" }
  - id: approve
    approval: { title: "Block {{ inputs.who }}?", approvers: [user:U1], timeout: 1h }
  - id: act
    uses: core.echo
    with: { message: "blocked {{ inputs.who }}" }
"""
SECRET_TITLE = "Exfiltration-7f3a via support-assistant"
EMAIL = "jane.doe@example.com"


def write_keys(path: Path, **keys: bytes) -> Path:
    path.write_text(json.dumps({k: base64.b64encode(v).decode() for k, v in keys.items()}))
    return path


async def sealed_client(env: WorkflowEnvironment, keys_file: Path, active: str) -> Client:
    config = env.client.config()
    config["data_converter"] = data_converter(keys_file, active)
    return Client(**config)


async def test_history_is_sealed_and_keys_rotate(
    temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    first = await sealed_client(temporal_env, write_keys(tmp_path / "k1.json", k1=k1), "k1")
    pseudo = Pseudonymizer(["user.email"], b"pseudonym-key")
    incident = alert(title=SECRET_TITLE, fields={"user": {"email": EMAIL}})
    plan = plan_of(PLAYBOOK)
    inputs = {"who": EMAIL}
    async with build_worker(first, task_queue, runner=ActionRunner(TEST_REGISTRY)):
        run = await fl.start_run(first, plan, incident, inputs, task_queue=task_queue, pseudonymizer=pseudo)
        await wait_for(first, run.run_id, lambda s: s.pending_approvals())

    # the operator rotates: k2 seals from now on, k1 still opens the old payloads
    rotated_keys = write_keys(tmp_path / "k12.json", k1=k1, k2=k2)
    second = await sealed_client(temporal_env, rotated_keys, "k2")
    async with build_worker(second, task_queue, runner=ActionRunner(TEST_REGISTRY)):
        await fl.decide(second, run.run_id, "approve", Decision.APPROVE, "user:U1")
        await second.get_workflow_handle(run.run_id).result()
        state = await fl.status(second, run.run_id)
    assert state.status.value == "succeeded"
    assert state.step("evidence").output == {"message": f"evidence-output-{SECRET_TITLE}"}  # type: ignore[union-attr]
    blocked = state.step("act").output["message"]  # type: ignore[union-attr]
    assert blocked.startswith("blocked pii:") and EMAIL not in state.model_dump_json()

    # raw history, read without keys: no alert field, no step output, no personal data
    raw = await temporal_env.client.get_workflow_handle(run.run_id).fetch_history()
    blob = b"".join(e.SerializeToString() for e in raw.events)
    for needle in (SECRET_TITLE.encode(), b"evidence-output", EMAIL.encode(), b"Block "):
        assert needle not in blob, needle
    assert b"k1" in blob and b"k2" in blob  # payloads name the key that sealed them

    # the codec server opens them for token holders only
    codec = AesGcmCodec(load_keys(rotated_keys), "k2")
    app = TestClient(codec_app(codec, "t" * 32, allowed_origins=["http://localhost:8233"]))
    started = raw.events[0].workflow_execution_started_event_attributes.input
    body = json_format.MessageToJson(Payloads(payloads=list(started.payloads)))
    assert app.post("/decode", content=body).status_code == 401
    assert app.post("/decode", content=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    opened = app.post("/decode", content=body, headers={"Authorization": "Bearer " + "t" * 32})
    assert opened.status_code == 200
    decoded = json_format.Parse(opened.text, Payloads())
    assert (
        SECRET_TITLE.encode() in decoded.payloads[0].data and EMAIL.encode() not in decoded.payloads[0].data
    )
    assert (
        app.post("/decode", content="{not json", headers={"Authorization": "Bearer " + "t" * 32}).status_code
        == 400
    )
