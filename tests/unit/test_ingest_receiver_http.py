"""The receiver's HTTP answers for everything that never reaches Temporal (Starlette TestClient)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from engine.console import console_routes
from engine.ingest.alert_log import LOG_FILE, AlertLog, recent_alerts
from engine.ingest.auth import SIGNATURE_HEADER, sign
from engine.ingest.core import Ingest
from engine.ingest.dead_letters import DeadLetterStore
from engine.ingest.dispatch import Dispatcher
from engine.ingest.models import AlertStatus
from engine.ingest.receiver import build_app
from engine.ingest.triggers import TriggerSet
from engine.settings import Settings
from tests.fixtures.ingest import SECRET, TOKEN, playbook_yaml, signed_config, write_catalog

GENERIC = {"id": "g-1", "rule": "gateway-jailbreak", "title": "Jailbreak", "severity": "high"}


def make_client(tmp_path: Path, *, with_console: bool = False, **config: object) -> TestClient:
    catalog = write_catalog(
        tmp_path / "playbooks",
        playbook_yaml("elastic-only", "any: [{source: elastic, match: {rule: 'never'}}]"),
    )
    triggers = TriggerSet.from_catalog(catalog)
    letters = DeadLetterStore(tmp_path)
    # No Temporal client: these requests must never get as far as Temporal.
    dispatcher = Dispatcher(None, triggers, task_queue="unused", dead_letters=letters)  # type: ignore[arg-type]
    ingest = Ingest(signed_config(**config), None, triggers, dispatcher, AlertLog(tmp_path), letters)  # type: ignore[arg-type]
    # The console as the stack mounts it; its client factory is never called on the way to the login page.
    routes = console_routes(Settings(home=tmp_path), lambda: None, lambda: catalog) if with_console else []  # type: ignore[arg-type,return-value]
    return TestClient(build_app(ingest, extra_routes=routes), raise_server_exceptions=False)


def signed(body: bytes, *, secret: str = SECRET, ts: int | None = None) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign(secret, body, ts), "Content-Type": "application/json"}


def post(
    http: TestClient, source: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, object]]:
    response = http.post(f"/alerts/{source}", content=body, headers=headers)
    return response.status_code, response.json()


def test_healthz_is_alive_and_readyz_says_temporal_is_missing(tmp_path: Path) -> None:
    http = make_client(tmp_path)
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["temporal"] is False and ready.json()["catalog_loaded"] is True


def test_a_signed_alert_that_matches_nothing_is_accepted_with_the_reason(tmp_path: Path) -> None:
    http = make_client(tmp_path)
    body = json.dumps(GENERIC).encode()
    status, data = post(http, "generic", body, signed(body))
    assert status == 202
    (outcome,) = data["alerts"]  # type: ignore[misc]
    assert outcome["status"] == "no_match" and outcome["id"] == "g-1"
    assert "source: generic is not elastic" in outcome["mismatches"]["elastic-only"]
    (logged,) = recent_alerts(tmp_path, 5)
    assert logged.status is AlertStatus.NO_MATCH and "elastic-only" in logged.reason


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({}, "missing"),
        ({"Authorization": "Bearer " + TOKEN}, "not accepted for source generic"),
        ({SIGNATURE_HEADER: "t=1,v1=00"}, "window"),
        ({SIGNATURE_HEADER: "nonsense"}, "t=<unix seconds>"),
    ],
)
def test_unauthenticated_requests_are_401_with_a_reason(
    tmp_path: Path, headers: dict[str, str], words: str
) -> None:
    http = make_client(tmp_path)
    status, data = post(http, "generic", b"{}", {"Content-Type": "application/json", **headers})
    assert status == 401 and words in str(data["reason"])
    assert recent_alerts(tmp_path, 1)[0].status is AlertStatus.REJECTED


def test_replayed_signature_is_refused_and_kibana_may_use_its_token(tmp_path: Path) -> None:
    http = make_client(tmp_path)
    body = json.dumps(GENERIC).encode()
    headers = signed(body)
    assert post(http, "generic", body, headers)[0] == 202
    status, data = post(http, "generic", body, headers)
    assert status == 401 and "replay" in str(data["reason"])
    doc = json.dumps(
        {"kibana.alert.uuid": "k1", "kibana.alert.rule.name": "r", "@timestamp": "2026-11-20T08:00:00Z"}
    )
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    assert post(http, "elastic", doc.encode(), auth)[0] == 202


def test_limits_have_clear_answers(tmp_path: Path) -> None:
    http = make_client(tmp_path, max_body_bytes=1000)
    big = b'{"title": "' + b"x" * 2000 + b'"}'
    status, data = post(http, "generic", big, signed(big))
    assert status == 413
    body = json.dumps(GENERIC).encode()
    status, _ = post(http, "generic", body, {**signed(body), "Content-Type": "text/plain"})
    assert status == 415
    bad = b'{"title": "x",}'
    status, data = post(http, "generic", bad, signed(bad))
    assert status == 400 and str(data["reason"]).startswith("1:15:")
    invalid = b'{"alerts": [{"labels": "not-an-object"}]}'
    status, data = post(http, "alertmanager", invalid, signed(invalid))
    assert status == 422 and data["path"] == "alerts[0].labels"
    status, _ = post(http, "nagios", body, signed(body))
    assert status == 404


def test_rate_per_source_gives_429_with_retry_after(tmp_path: Path) -> None:
    http = make_client(tmp_path, rate_per_s=0.5, rate_burst=2)
    codes = []
    for i in range(3):
        body = json.dumps({**GENERIC, "id": f"g-{i}"}).encode()
        response = http.post("/alerts/generic", content=body, headers=signed(body))
        codes.append(response.status_code)
    assert codes == [202, 202, 429]
    assert response.headers["Retry-After"] == "2"
    # Another source has its own budget.
    doc = json.dumps({**GENERIC, "alertname": "x"}).encode()
    assert http.post("/alerts/alertmanager", content=doc, headers=signed(doc)).status_code in (202, 422)


def test_secrets_and_bodies_never_reach_the_log(tmp_path: Path) -> None:
    http = make_client(tmp_path)
    marker = "PRIVATE-BODY-TEXT"
    body = json.dumps({"title": marker}).encode()
    post(http, "generic", body, {**signed(body, secret="wrong"), "Authorization": f"Bearer {TOKEN}"})
    post(http, "generic", b'{"a": ' + marker.encode() + b"}", signed(b'{"a": ' + marker.encode() + b"}"))
    text = (tmp_path / LOG_FILE).read_text()
    assert marker not in text and SECRET not in text and TOKEN not in text


def test_random_signed_bodies_never_give_500(tmp_path: Path) -> None:
    http = make_client(tmp_path)

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
    def check(body: bytes) -> None:
        for source in ("elastic", "alertmanager", "generic"):
            headers = signed(body, ts=int(time.time()))
            status = http.post(f"/alerts/{source}", content=body, headers=headers).status_code
            # 401 only when the same body was already accepted under this signature (a replay).
            assert status in (202, 400, 401, 422), status

    check()


def test_the_receivers_root_sends_people_to_the_console(tmp_path: Path) -> None:
    http = make_client(tmp_path, with_console=True)

    landing = http.get("/", follow_redirects=False)

    assert landing.status_code == 307 and landing.headers["location"] == "/console/"
    assert http.get("/", follow_redirects=True).url.path == "/console/login"  # signed out: the login page
    assert http.get("/healthz").status_code == 200  # the receiver's own routes are untouched
