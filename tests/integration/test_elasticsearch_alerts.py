"""Contract tests of the Elastic Security alert actions: read an alert, move it through triage."""

from __future__ import annotations

import uuid

import pytest
from elasticsearch import Elasticsearch
from pydantic import ValidationError

from engine.sdk import ActionError
from integrations.elasticsearch.sample_catalog import SampleIncident
from integrations.elasticsearch.seed import SeedSummary
from tests.fixtures.elasticsearch import (  # noqa: F401
    elasticsearch_secrets,
    elasticsearch_url,
    es_admin,
    es_contexts,
    es_index_prefix,
    seeded,
)
from tests.integration.conftest_es import Contexts, run

pytestmark = pytest.mark.integration


def test_get_alert_by_uuid(es_contexts: Contexts, seeded: SeedSummary) -> None:
    alert_id = seeded.alert_ids[SampleIncident.PROMPT_INJECTION]
    alert = run("elasticsearch.get_alert", es_contexts(), id=alert_id, index=seeded.alerts_index)
    assert alert["_id"] == alert_id
    assert alert["kibana.alert.uuid"] == alert_id
    assert alert["kibana.alert.rule.name"] == "AI model prompt injection burst"
    assert alert["kibana.alert.workflow_status"] == "open"
    assert alert["user.api_key.id"] == seeded.incidents[SampleIncident.PROMPT_INJECTION].api_key_id


def test_get_alert_that_does_not_exist(es_contexts: Contexts, seeded: SeedSummary) -> None:
    with pytest.raises(ActionError) as err:
        run("elasticsearch.get_alert", es_contexts(), id="no-such-alert", index=seeded.alerts_index)
    assert (err.value.type, err.value.retryable) == ("AlertNotFound", False)


@pytest.fixture
def triage_index(es_admin: Elasticsearch, es_index_prefix: str, seeded: SeedSummary) -> str:
    """A copy of the sample alerts that a test may change without disturbing the others."""
    index = f"{es_index_prefix}-triage-{uuid.uuid4().hex[:6]}"
    for alert_id in seeded.alert_ids.values():
        source = es_admin.get(index=seeded.alerts_index, id=alert_id)["_source"]
        es_admin.index(index=index, id=alert_id, document=source)
    es_admin.indices.refresh(index=index)
    return index


def test_set_alert_status_changes_what_get_alert_returns_and_repeats_safely(
    es_contexts: Contexts, seeded: SeedSummary, triage_index: str
) -> None:
    ctx = es_contexts(run_id="run-42")
    alert_id = seeded.alert_ids[SampleIncident.LEAKED_API_KEY]
    args = {
        "ids": [alert_id],
        "status": "acknowledged",
        "note": "fireline is revoking the key",
        "run_url": "http://127.0.0.1:8787/runs/run-42",
        "index": triage_index,
    }
    first = run("elasticsearch.set_alert_status", ctx, **args)
    assert first == {"status": "acknowledged", "updated": [alert_id], "unchanged": [], "not_found": []}
    alert = run("elasticsearch.get_alert", ctx, id=alert_id, index=triage_index)
    assert alert["kibana.alert.workflow_status"] == "acknowledged"
    assert alert["fireline.note"] == "fireline is revoking the key"
    assert alert["fireline.run_url"] == "http://127.0.0.1:8787/runs/run-42"
    assert alert["fireline.run_id"] == "run-42"
    assert alert["kibana.alert.rule.name"] == seeded.incidents[SampleIncident.LEAKED_API_KEY].rule_name

    again = run("elasticsearch.set_alert_status", ctx, **args)
    assert again["unchanged"] == [alert_id] and again["updated"] == []

    closed = run(
        "elasticsearch.set_alert_status", ctx, **{**args, "status": "closed", "ids": [alert_id, "gone"]}
    )
    assert closed["updated"] == [alert_id] and closed["not_found"] == ["gone"]
    alert = run("elasticsearch.get_alert", ctx, id=alert_id, index=triage_index)
    assert alert["kibana.alert.workflow_status"] == "closed"
    untouched = run(
        "elasticsearch.get_alert", ctx, id=seeded.alert_ids[SampleIncident.PII_EXPOSURE], index=triage_index
    )
    assert untouched["kibana.alert.workflow_status"] == "open"


def test_set_alert_status_rejects_unknown_status_and_missing_alerts(
    es_contexts: Contexts, seeded: SeedSummary
) -> None:
    ctx = es_contexts()
    with pytest.raises(ValidationError):
        run("elasticsearch.set_alert_status", ctx, ids=["a"], status="resolved", index=seeded.alerts_index)
    with pytest.raises(ActionError) as err:
        run("elasticsearch.set_alert_status", ctx, ids=["nope"], status="closed", index=seeded.alerts_index)
    assert (err.value.type, err.value.retryable) == ("AlertNotFound", False)


def test_set_alert_status_by_id_and_uuid_of_the_same_alert(
    es_contexts: Contexts, es_admin: Elasticsearch, triage_index: str
) -> None:
    alert = {
        "kibana.alert.uuid": "uuid-of-copy",
        "kibana.alert.workflow_status": "open",
        "@timestamp": "2026-01-01",
    }
    es_admin.index(index=triage_index, id="doc-id-of-copy", document=alert, refresh=True)
    ctx = es_contexts()
    by_uuid = run("elasticsearch.get_alert", ctx, id="uuid-of-copy", index=triage_index)
    assert by_uuid["_id"] == "doc-id-of-copy"
    out = run(
        "elasticsearch.set_alert_status",
        ctx,
        ids=["uuid-of-copy", "doc-id-of-copy"],
        status="closed",
        index=triage_index,
    )
    assert out["updated"] == ["uuid-of-copy", "doc-id-of-copy"]
    assert (
        run("elasticsearch.get_alert", ctx, id="doc-id-of-copy", index=triage_index)[
            "kibana.alert.workflow_status"
        ]
        == "closed"
    )
