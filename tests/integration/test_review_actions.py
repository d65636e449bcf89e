"""review.compile against a real Elasticsearch stand-in (noida-db), a fake Slack and the file system."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from engine.classification import Classification
from engine.sdk import ActionContext, ActionError
from integrations.elasticsearch.testing import action_context
from integrations.http.testing import invoke
from integrations.review import actions, store
from integrations.slack.client import make_client
from integrations.slack.testing import FakeSlack
from tests.fixtures.elasticsearch import (  # noqa: F401
    elasticsearch_secrets,
    elasticsearch_url,
    es_admin,
    es_index_prefix,
)
from tests.fixtures.review import OCCURRED, incident_events, store_events
from tests.fixtures.slack import BOT_TOKEN, fake_slack  # noqa: F401

pytestmark = pytest.mark.integration

PARAMS: dict[str, Any] = {
    "alert_occurred_at": OCCURRED.isoformat(),
    "containment_steps": ["quarantine"],
    "notification_steps": ["chat", "page"],
    "follow_ups": ["Rotate the model signing key"],
    "evidence": {"suspicious_calls": 42},
}


def _context(
    url: str, home: Path, slack: FakeSlack | None = None, run_id: str = "run-review"
) -> ActionContext:
    settings: dict[str, Any] = {"FIRELINE_HOME": str(home)}
    secrets: dict[str, str] = {}
    if slack is not None:
        settings["SLACK_API_URL"] = slack.api_url
        secrets["SLACK_BOT_TOKEN"] = BOT_TOKEN
    return action_context(
        url, settings=settings, secrets=secrets, run_id=run_id, idempotency_key=f"{run_id}/r/0"
    )


@pytest.fixture
def recorded_run(elasticsearch_url: str) -> str:
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    store_events(elasticsearch_url, incident_events(run_id))
    return run_id


def test_compile_stores_the_review_in_elasticsearch_and_under_fireline_home(
    elasticsearch_url: str, es_admin: Elasticsearch, es_index_prefix: str, recorded_run: str, tmp_path: Path
) -> None:
    index = f"{es_index_prefix}-reviews"
    out = invoke(
        actions.compile_run, _context(elasticsearch_url, tmp_path), run_id=recorded_run, index=index, **PARAMS
    )
    assert out["review_id"] == recorded_run
    assert out["durations"] == {"detect_s": 120.0, "contain_s": 1260.0, "notify_s": 1320.0, "total_s": 1800.0}
    assert out["events"] == 20
    assert out["slack"] is None
    assert out["summary"].startswith(
        f"quarantine-compromised-model {recorded_run}: succeeded; detect 2 min 00 s"
    )

    md_path = Path(out["markdown_path"])
    assert md_path == tmp_path / "reviews" / f"{recorded_run}.md"
    markdown = md_path.read_text()
    assert "## Timeline" in markdown and "- [ ] Rotate the model signing key" in markdown
    assert "<script>" not in Path(out["html_path"]).read_text()

    doc = es_admin.get(index=index, id=recorded_run)["_source"]
    assert doc["run_id"] == recorded_run
    assert doc["playbook"] == "quarantine-compromised-model"
    assert doc["outcome"] == "succeeded"
    assert doc["durations"]["contain_s"] == 1260.0
    assert doc["content"]["markdown"] == markdown


def test_reviews_show_and_group_by_atlas_and_owasp_ids(
    elasticsearch_url: str, es_admin: Elasticsearch, es_index_prefix: str, tmp_path: Path
) -> None:
    index = f"{es_index_prefix}-reviews"
    runs = {
        "injection": Classification(atlas=["AML.T0051", "AML.T0057"], owasp_llm=["LLM01:2025"]),
        "leak": Classification(atlas=["AML.T0057"], owasp_llm=["LLM02:2025"]),
        "plain": Classification(),
    }
    ids: dict[str, str] = {}
    for name, found in runs.items():
        run_id = ids[name] = f"run-{name}-{uuid.uuid4().hex[:8]}"
        store_events(elasticsearch_url, incident_events(run_id, None if found.empty else found.for_audit()))
        invoke(
            actions.compile_run, _context(elasticsearch_url, tmp_path), run_id=run_id, index=index, **PARAMS
        )

    markdown = (tmp_path / "reviews" / f"{ids['injection']}.md").read_text()
    # Markdown escapes the dots; the sections are grouped by framework, each id with its name
    assert (
        "## Classification\n\n### MITRE ATLAS 5\\.1\\.0\n\n- **AML\\.T0051** LLM Prompt Injection\n"
        in markdown
    )
    assert "### OWASP Top 10 for LLM Applications 2025\n\n- **LLM01:2025** Prompt Injection" in markdown
    assert "## Classification" not in (tmp_path / "reviews" / f"{ids['plain']}.md").read_text()
    assert "<h3>MITRE ATLAS 5.1.0</h3>" in (tmp_path / "reviews" / f"{ids['leak']}.html").read_text()

    assert store.grouped(es_admin, index, "atlas") == {
        "AML.T0051": [ids["injection"]],
        "AML.T0057": sorted([ids["injection"], ids["leak"]]),
    }
    assert store.grouped(es_admin, index, "owasp_llm") == {
        "LLM01:2025": [ids["injection"]],
        "LLM02:2025": [ids["leak"]],
    }
    with pytest.raises(ValueError, match="unknown framework"):
        store.grouped(es_admin, index, "mitre")


def test_the_review_defaults_to_this_run(
    elasticsearch_url: str, es_index_prefix: str, recorded_run: str, tmp_path: Path
) -> None:
    ctx = _context(elasticsearch_url, tmp_path, run_id=recorded_run)
    out = invoke(actions.compile_run, ctx, index=f"{es_index_prefix}-reviews")
    assert out["review_id"] == recorded_run
    assert out["durations"]["total_s"] == 1800.0


def test_it_posts_to_the_incident_thread_once_and_edits_it_on_recompile(
    elasticsearch_url: str, es_index_prefix: str, recorded_run: str, tmp_path: Path, fake_slack: FakeSlack
) -> None:
    thread = make_client(BOT_TOKEN, fake_slack.api_url).chat_postMessage(
        channel="C0INCIDENT", text="incident"
    )
    args = {**PARAMS, "run_id": recorded_run, "index": f"{es_index_prefix}-reviews"}
    args.update(channel="#ai-incidents", thread_ts=thread["ts"])
    ctx = _context(elasticsearch_url, tmp_path, fake_slack)

    first = invoke(actions.compile_run, ctx, **args)
    ref = first["slack"]
    assert (ref["channel_id"], ref["thread_ts"]) == ("C0INCIDENT", thread["ts"])
    message = fake_slack.workspace.messages["C0INCIDENT"][ref["ts"]]
    assert message["thread_ts"] == thread["ts"]
    assert "*Post-incident review:" in message["text"]
    assert "&lt;script&gt;" in message["text"] and "<script>" not in message["text"]
    assert "• approve: approve by user:U024BE7LH" in message["text"]
    assert "• Rotate the model signing key" in message["text"]

    again = invoke(actions.compile_run, ctx, **{**args, "follow_ups": ["Rotate the key", "Retrain"]})
    assert again["slack"] == ref
    assert len(fake_slack.calls("chat.postMessage")) == 2  # the thread's parent and the review, nothing more
    assert len(fake_slack.calls("chat.update")) == 1
    assert "• Retrain" in fake_slack.workspace.messages["C0INCIDENT"][ref["ts"]]["text"]


def test_slack_failures_keep_their_retry_verdict(
    elasticsearch_url: str, es_index_prefix: str, recorded_run: str, tmp_path: Path, fake_slack: FakeSlack
) -> None:
    ctx = _context(elasticsearch_url, tmp_path, fake_slack)
    args = {"run_id": recorded_run, "index": f"{es_index_prefix}-reviews"}
    with pytest.raises(ActionError) as caught:
        invoke(actions.compile_run, ctx, channel="#no-such-channel", **args)
    assert (caught.value.type, caught.value.retryable) == ("ChannelNotFound", False)
    fake_slack.fail("chat.postMessage", "internal_error")
    with pytest.raises(ActionError) as caught:
        invoke(actions.compile_run, ctx, channel="C0INCIDENT", **args)
    assert caught.value.retryable is True
    assert (
        invoke(actions.compile_run, ctx, channel="C0INCIDENT", **args)["slack"]["channel_id"] == "C0INCIDENT"
    )


def test_a_run_without_a_trail_is_retried_later(elasticsearch_url: str, tmp_path: Path) -> None:
    with pytest.raises(ActionError) as caught:
        invoke(actions.compile_run, _context(elasticsearch_url, tmp_path), run_id="run-that-never-was")
    assert (caught.value.type, caught.value.retryable) == ("NoAuditTrail", True)


def test_a_hostile_run_id_cannot_write_outside_the_reviews_folder(
    elasticsearch_url: str, es_index_prefix: str, tmp_path: Path
) -> None:
    run_id = f"../../escape-{uuid.uuid4().hex[:6]}"
    store_events(elasticsearch_url, incident_events(run_id))
    out = invoke(
        actions.compile_run,
        _context(elasticsearch_url, tmp_path),
        run_id=run_id,
        index=f"{es_index_prefix}-reviews",
    )
    path = Path(out["markdown_path"])
    assert path.parent == tmp_path / "reviews"
    assert path.exists()
    assert not list(tmp_path.parent.glob("escape-*"))
