"""The receiver on a real uvicorn, handing alerts to a real Temporal dev server."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from engine.client import status
from engine.ingest.alert_log import recent_alerts
from engine.ingest.auth import SIGNATURE_HEADER, sign
from engine.ingest.dead_letters import list_dead_letters
from engine.ingest.models import AlertStatus
from engine.ingest.poller import POLL_SCHEDULE_ID
from engine.ingest.sender import send_file
from engine.ingest.server import serve_ingest
from engine.settings import ReceiverSettings
from engine.stack.processes import free_port
from integrations.elasticsearch.sample_catalog import SAMPLE_ALERT_IDS, SampleIncident
from integrations.elasticsearch.seed import seed_sample_data
from tests.fixtures.ingest import (
    SECRET,
    TOKEN,
    es_url,
    make_ingest,
    playbook_yaml,
    running_receiver,
    running_worker,
    settings_for,
    signed_config,
    unique,
    write_catalog,
)

__all__ = ["es_url"]
pytestmark = pytest.mark.integration

GATEWAY_TRIGGER = """
any:
  - source: generic
    match: {rule: "gateway-*"}
dedup: {key: "{{ alert.fingerprint }}", window: %s}
"""
ECHO_ONLY = """
- id: note
  uses: core.echo
  with: {message: "{{ alert.title }}"}
"""


async def post(url: str, source: str, doc: object, **headers: str) -> httpx.Response:
    body = json.dumps(doc).encode()
    auth = headers or {SIGNATURE_HEADER: sign(SECRET, body)}
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{url}/alerts/{source}", content=body, headers={"Content-Type": "application/json", **auth}
        )


def alert(i: int, fingerprint: str = "fp-1") -> dict[str, object]:
    return {
        "id": f"g-{i}",
        "rule": "gateway-jailbreak",
        "title": f"jailbreak {i}",
        "fingerprint": fingerprint,
    }


async def test_an_alert_starts_a_run_and_repeats_join_it(
    tmp_path: Path, client: Client, task_queue: str
) -> None:
    name = unique("gateway")
    catalog = write_catalog(tmp_path / "pb", playbook_yaml(name, GATEWAY_TRIGGER % "1h"))
    ingest = make_ingest(tmp_path, client, task_queue, catalog)
    async with running_worker(client, task_queue) as leftovers, running_receiver(ingest) as url:
        first = (await post(url, "generic", alert(1))).json()
        (outcome,) = first["alerts"]
        assert outcome["status"] == "started"
        run_id = outcome["playbooks"][0]["run_id"]
        assert outcome["playbooks"][0] == {
            "playbook": name,
            "rule": 0,
            "disposition": "started",
            "run_id": run_id,
            "reason": "",
        }
        again = (await post(url, "generic", alert(2))).json()["alerts"][0]
        assert again["status"] == "joined" and again["playbooks"][0]["run_id"] == run_id
        other = (await post(url, "generic", alert(3, "fp-2"))).json()["alerts"][0]
        leftovers |= {run_id, other["playbooks"][0]["run_id"]}
        (tmp_path / "alert.json").write_text(json.dumps(alert(4)))
        # `fireline alerts send` signs and posts a file (blocking client, so off the loop).
        sent = await asyncio.to_thread(send_file, url, "generic", tmp_path / "alert.json", secret=SECRET)
        assert sent.status == 202 and sent.body["alerts"][0]["status"] == "joined"
        assert other["status"] == "started" and other["playbooks"][0]["run_id"] != run_id
        state = await status(client, run_id)
        assert state.alert_id == "g-1" and [a.id for a in state.joined_alerts] == ["g-2", "g-4"]
        async with httpx.AsyncClient() as http:
            ready = (await http.get(f"{url}/readyz")).json()
        assert ready["ready"] is True and ready["alert_playbooks"] == 1
    logged = recent_alerts(tmp_path, 10)
    assert [(e.id, e.status) for e in logged] == [
        ("g-4", AlertStatus.JOINED),
        ("g-3", AlertStatus.STARTED),
        ("g-2", AlertStatus.JOINED),
        ("g-1", AlertStatus.STARTED),
    ]


async def test_ids_an_alert_adds_are_carried_and_unknown_ones_kept_as_rejected(
    tmp_path: Path, client: Client, task_queue: str
) -> None:
    name = unique("gateway")
    catalog = write_catalog(tmp_path / "pb", playbook_yaml(name, GATEWAY_TRIGGER % "1h"))
    ingest = make_ingest(tmp_path, client, task_queue, catalog)
    doc = {
        **alert(1, unique("fp")),
        "classification": {"atlas": ["AML.T0054", "<script>", 7, {"$gt": ""}], "owasp_llm": "LLM01:2025"},
    }
    async with running_worker(client, task_queue) as leftovers, running_receiver(ingest) as url:
        answer = await post(url, "generic", doc)
        assert answer.status_code == 202, answer.text
        run_id = answer.json()["alerts"][0]["playbooks"][0]["run_id"]
        leftovers.add(run_id)
        state = await status(client, run_id)
        assert state.classification.atlas == ["AML.T0054"]
        assert state.classification.owasp_llm == ["LLM01:2025"]
        assert [r.value for r in state.classification.rejected] == ["<script>", "7", "{'$gt': ''}"]
        memo = await client.get_workflow_handle(run_id).describe()
        assert (await memo.memo())["atlas"] == ["AML.T0054"]


async def test_repeats_inside_the_window_join_the_closed_run(
    tmp_path: Path, client: Client, task_queue: str
) -> None:
    long_name, short_name = unique("closed-long"), unique("closed-short")
    catalog = write_catalog(
        tmp_path / "pb",
        playbook_yaml(long_name, GATEWAY_TRIGGER % "1h", ECHO_ONLY),
        playbook_yaml(short_name, GATEWAY_TRIGGER % "1s", ECHO_ONLY),
    )
    ingest = make_ingest(tmp_path, client, task_queue, catalog)
    async with running_worker(client, task_queue), running_receiver(ingest) as url:
        first = (await post(url, "generic", alert(1))).json()["alerts"][0]
        runs = {p["playbook"]: p["run_id"] for p in first["playbooks"]}
        for run_id in runs.values():
            await client.get_workflow_handle(run_id).result()
        await asyncio.sleep(1.1)  # past the short window, inside the long one
        second = (await post(url, "generic", alert(2))).json()["alerts"][0]
    got = {p["playbook"]: (p["disposition"], p["run_id"]) for p in second["playbooks"]}
    assert got[long_name] == ("joined_closed", runs[long_name])
    assert got[short_name] == ("started", runs[short_name])
    desc = await client.get_workflow_handle(runs[long_name]).describe()
    assert desc.status is WorkflowExecutionStatus.COMPLETED  # nothing new started


async def test_kibana_id_only_payloads_are_read_from_elasticsearch(
    tmp_path: Path, client: Client, task_queue: str, es_url: str
) -> None:
    await asyncio.to_thread(seed_sample_data, es_url)
    name = unique("kibana")
    trigger = 'any: [{source: elastic, match: {rule: "AI model *", severity: [high, critical]}}]'
    catalog = write_catalog(tmp_path / "pb", playbook_yaml(name, trigger))
    ingest = make_ingest(tmp_path, client, task_queue, catalog, es_url=es_url)
    wanted = SAMPLE_ALERT_IDS[SampleIncident.PROMPT_INJECTION]
    payload = {"rule": {"name": "AI model prompt injection burst"}, "alert_ids": [wanted, "no-such-alert"]}
    async with running_worker(client, task_queue) as leftovers, running_receiver(ingest) as url:
        response = await post(url, "elastic", payload, Authorization=f"Bearer {TOKEN}")
        data = response.json()
        assert response.status_code == 202 and data["missing"] == ["no-such-alert"]
        (outcome,) = data["alerts"]
        assert outcome["id"] == wanted and outcome["status"] == "started"
        assert outcome["rule"] == "AI model prompt injection burst" and outcome["severity"] == "high"
        state = await status(client, outcome["playbooks"][0]["run_id"])
        leftovers.add(state.run_id)
    assert state.alert_id == wanted
    assert any("no-such-alert" in e.reason for e in recent_alerts(tmp_path, 5))


async def test_temporal_unreachable_is_503_so_the_sender_retries(tmp_path: Path, task_queue: str) -> None:
    dead = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True, data_converter=pydantic_data_converter)
    catalog = write_catalog(tmp_path / "pb", playbook_yaml(unique("down"), GATEWAY_TRIGGER % "1h"))
    ingest = make_ingest(tmp_path, dead, task_queue, catalog, config=signed_config(dispatch_timeout_s=1.5))
    async with running_receiver(ingest) as url:
        body = json.dumps(alert(1)).encode()
        headers = {SIGNATURE_HEADER: sign(SECRET, body), "Content-Type": "application/json"}
        async with httpx.AsyncClient(timeout=30) as http:
            first = await http.post(f"{url}/alerts/generic", content=body, headers=headers)
            # The very same signed request may be retried: a refused request frees its signature.
            second = await http.post(f"{url}/alerts/generic", content=body, headers=headers)
    assert first.status_code == 503 and first.headers["Retry-After"] == "5"
    assert second.status_code == 503
    assert recent_alerts(tmp_path, 1)[0].http_status == 503


async def test_an_alert_that_cannot_start_is_dead_lettered_and_replayed(
    tmp_path: Path, client: Client, task_queue: str
) -> None:
    name = unique("needs-input")
    broken = playbook_yaml(name, GATEWAY_TRIGGER % "1h").replace(
        "steps:", "inputs:\n  ticket: {type: string, required: true}\nsteps:"
    )
    ingest = make_ingest(tmp_path, client, task_queue, write_catalog(tmp_path / "pb", broken))
    async with running_worker(client, task_queue) as leftovers, running_receiver(ingest) as url:
        response = await post(url, "generic", alert(1))
        outcome = response.json()["alerts"][0]
        assert response.status_code == 202 and outcome["status"] == "failed"
        assert "ticket" in outcome["reason"] and outcome["dead_letter"]
        (letter,) = list_dead_letters(tmp_path)
        assert letter.id == outcome["dead_letter"] and letter.playbooks == [name]
        again = await ingest.replay(letter.id)
        assert again.status is AlertStatus.FAILED and list_dead_letters(tmp_path)[0].attempts == 2
        fixed = broken.replace("required: true", 'default: "{{ alert.id }}"')
        repaired = make_ingest(tmp_path, client, task_queue, write_catalog(tmp_path / "pb", fixed))
        replayed = await repaired.replay(letter.id)
        leftovers.add(replayed.playbooks[0].run_id or "")
    assert replayed.status is AlertStatus.STARTED and list_dead_letters(tmp_path) == []


async def test_serve_ingest_runs_receiver_and_poller_until_stopped(
    tmp_path: Path, client: Client, task_queue: str, es_url: str
) -> None:
    settings = settings_for(tmp_path, task_queue).model_copy(
        update={"receiver": ReceiverSettings(listen="127.0.0.1:0")}
    )
    catalog = write_catalog(tmp_path / "pb", playbook_yaml(unique("served"), GATEWAY_TRIGGER % "1h"))
    stop = asyncio.Event()
    urls: list[str] = []
    task = asyncio.create_task(
        serve_ingest(
            settings,
            client,
            catalog,
            stop,
            elasticsearch_url=es_url,
            poll_every_s=3600,
            on_listening=urls.append,
        )
    )
    try:
        for _ in range(200):
            if urls:
                break
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{urls[0]}/healthz")).status_code == 200
            assert (await http.get(f"{urls[0]}/readyz")).json()["alert_playbooks"] == 1
        for _ in range(200):
            with contextlib.suppress(RPCError):
                await client.get_schedule_handle(POLL_SCHEDULE_ID).describe()
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    await client.get_schedule_handle(POLL_SCHEDULE_ID).delete()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(f"{urls[0]}/healthz")
