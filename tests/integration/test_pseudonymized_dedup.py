"""A dedup key over personal data: one run per person, and no raw personal data in its workflow id.

The receiver, a preview of the spooled answer and ``fireline run`` (the client) compute the run id
the same way: pseudonymize first, then render the key once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import Client

from engine import client as fl
from engine.alerts.generic import normalize_generic
from engine.alerts.model import Alert
from engine.ingest.core import build_ingest
from engine.privacy import pseudonym
from engine.settings import DataProtectionSettings, Settings, TemporalSettings
from tests.fixtures.ingest import (
    playbook_yaml,
    running_receiver,
    running_worker,
    signed_config,
    unique,
    write_catalog,
)
from tests.integration.test_ingest_receiver import post

pytestmark = pytest.mark.integration
KEY = "pseudonym-test-key"
JANE = "jane.doe@example.com"
JOHN = "john.roe@example.com"
PER_PERSON = """
any:
  - source: generic
    match: {rule: "dlp-*"}
dedup: {key: "{{ alert.fields.user.email }}", window: 1h}
"""


def leak(i: int, email: str) -> dict[str, object]:
    return {
        "id": f"dlp-{i}",
        "rule": "dlp-pii-in-answer",
        "title": f"answer {i} leaked data",
        "user": {"email": email},
    }


async def test_one_run_per_person_under_a_pseudonymous_id(
    tmp_path: Path, client: Client, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIRELINE_PSEUDONYM_KEY", KEY)
    name = unique("per-person")
    catalog = write_catalog(tmp_path / "pb", playbook_yaml(name, PER_PERSON))
    settings = Settings(
        home=tmp_path,
        temporal=TemporalSettings(task_queue=task_queue),
        data_protection=DataProtectionSettings(personal_fields=["user.email"]),
    )
    ingest = build_ingest(settings, client, catalog, elasticsearch_url=None, config=signed_config())
    async with running_worker(client, task_queue) as leftovers, running_receiver(ingest) as url:
        first = (await post(url, "generic", leak(1, JANE))).json()["alerts"][0]
        again = (await post(url, "generic", leak(2, JANE))).json()["alerts"][0]
        other = (await post(url, "generic", leak(3, JOHN))).json()["alerts"][0]
        run_id = first["playbooks"][0]["run_id"]
        leftovers |= {run_id, other["playbooks"][0]["run_id"]}
        assert (first["status"], again["status"], other["status"]) == ("started", "joined", "started")
        assert again["playbooks"][0]["run_id"] == run_id != other["playbooks"][0]["run_id"]

        # The id derives from the keyed pseudonym, never from the address itself.
        match = ingest.triggers.match(_normalized(leak(4, JANE))).matches[0]
        plan = match.playbook.plan
        assert run_id == fl.run_id_for(plan, pseudonym(JANE, KEY.encode()))
        assert run_id != fl.run_id_for(plan, JANE) and "jane" not in run_id

        # The spooled receiver answers with a preview: it names the run the alert will reach.
        preview = ingest.dispatcher.preview(_normalized(leak(5, JANE)))
        assert preview.playbooks[0].run_id == run_id

        # `fireline run` with the same settings joins the same run.
        cli = await fl.start_run(
            client,
            plan,
            _normalized(leak(6, JANE)).template_view(),
            {},
            task_queue=task_queue,
            options=fl.run_options(settings),
        )
        assert cli.joined and cli.run_id == run_id

        state = await fl.status(client, run_id)
        assert [a.id for a in state.joined_alerts] == ["dlp-2", "dlp-6"]
        assert JANE not in state.model_dump_json() and JOHN not in state.model_dump_json()


def _normalized(doc: dict[str, object]) -> Alert:
    return normalize_generic(doc, received_at=datetime.now(UTC)).alerts[0]
