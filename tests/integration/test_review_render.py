"""The review's analysis and rendering, from a recorded trail (no server needed)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from engine.plan.audit import AuditEvent
from integrations.review.analysis import compile_review, human
from integrations.review.html import render_html
from integrations.review.markdown import render_markdown, text
from integrations.review.models import AuditRecord, Review, ReviewParams, matches
from tests.fixtures.review import HOSTILE_TITLE, OCCURRED, START, incident_events

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _records(events: list[AuditEvent]) -> list[AuditRecord]:
    return [AuditRecord.model_validate(e.model_dump(mode="json")) for e in events]


def _review(**params: object) -> Review:
    events = incident_events("run-render")
    defaults: dict[str, object] = {
        "alert_occurred_at": OCCURRED,
        "containment_steps": ["quarantine"],
        "notification_steps": ["chat", "page"],
        "follow_ups": ["Rotate the model signing key"],
        "evidence": {"suspicious_calls": 42, "top_key": {"id": "k1", "note": "<img src=x onerror=alert(1)>"}},
    }
    return compile_review(
        "run-render", reversed(_records(events)), ReviewParams.model_validate({**defaults, **params}), NOW
    )


def test_response_times_come_from_the_trail_and_the_named_steps() -> None:
    review = _review()
    assert review.durations.model_dump() == {
        "detect_s": 120.0,
        "contain_s": 21 * 60.0,
        "notify_s": 22 * 60.0,
        "total_s": 30 * 60.0,
    }
    assert (review.started_at, review.outcome, review.playbook, review.version) == (
        START,
        "succeeded",
        "quarantine-compromised-model",
        3,
    )


def test_without_named_steps_or_occurrence_time_the_times_are_unknown() -> None:
    review = _review(alert_occurred_at=None, containment_steps=[], notification_steps=[])
    d = review.durations
    assert (d.detect_s, d.contain_s, d.notify_s, d.total_s) == (None, None, None, 1800.0)
    assert "detect n/a, contain n/a, notify n/a" in review.summary


def test_decisions_name_who_decided_after_escalation() -> None:
    [decision] = _review().decisions
    assert decision.step == "approve"
    assert (decision.decision, decision.by, decision.via) == ("approve", "user:U024BE7LH", "slack")
    assert decision.approvers == ["group:ml-oncall"]
    assert decision.escalated_to == ["group:security-leads"]
    assert decision.waited_s == pytest.approx(19.7 * 60)


def test_actions_and_open_follow_ups() -> None:
    review = _review()
    assert [(a.step, a.outcome, a.attempts) for a in review.actions] == [
        ("evidence", "succeeded", 1),
        ("quarantine", "succeeded", 2),
        ("tell.chat", "succeeded", 1),
        ("tell.page", "failed", 5),
    ]
    assert review.follow_ups == [
        "Step tell.page failed: PagerDuty answered 500",
        "Step cool_down skipped",
        "Rotate the model signing key",
    ]
    assert review.joined_alerts == 1
    assert review.missing_seq == []
    assert review.summary.endswith("4 action(s) (1 not succeeded), 3 open follow-up(s)")


def test_a_gap_in_the_trail_and_an_unfinished_step_are_reported() -> None:
    events = _records(incident_events("run-gap"))
    lost = next(e.seq for e in events if e.action == "step.finished" and e.step == "approve")
    cut = [e for e in events if e.seq != lost and e.action != "run.finished"]
    review = compile_review("run-gap", cut, ReviewParams(), NOW)
    assert review.missing_seq == [lost]
    assert review.outcome == "running"
    assert "Step approve started but never finished" in review.follow_ups


def test_markdown_has_every_section_and_escapes_trail_text() -> None:
    md = render_markdown(_review())
    for heading in (
        "## Response times",
        "## Timeline",
        "## Decisions",
        "## Actions taken",
        "## Open follow-ups",
    ):
        assert heading in md
    assert "| Time to detect (problem began → run started) | 2 min 00 s |" in md
    assert "| Time to contain (run started → first containment step done) | 21 min 00 s |" in md
    assert "- [ ] Rotate the model signing key" in md
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "](https" not in md  # the alert's link is text, not a link
    assert "<img" not in md
    decision_row = next(line for line in md.splitlines() if line.startswith("| approve |"))
    assert decision_row.count(" | ") == 5  # the reason's "|" did not add a column
    assert "\\*really\\*" in decision_row


def test_escaping_keeps_the_words() -> None:
    assert text("a_b *c* [d](e) <f> & g|h") == "a\\_b \\*c\\* \\[d\\]\\(e\\) &lt;f&gt; &amp; g\\|h"
    assert text("line one\nline two") == "line one line two"
    assert len(text("x" * 1000)) == 300


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes += [name for name, _ in attrs]


def test_html_contains_no_markup_from_the_trail() -> None:
    page = render_html(_review())
    parser = _Tags()
    parser.feed(page)
    assert "script" not in parser.tags and "img" not in parser.tags and "a" not in parser.tags
    assert "onerror" not in parser.attributes
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<td>user:U024BE7LH</td>" in page
    assert re.search(
        r"<td>Time to notify \(run started → first notification sent\)</td><td>22 min 00 s</td>", page
    )


def test_a_long_run_keeps_the_timeline_bounded() -> None:
    events = _records(incident_events("run-long"))
    last = events[-1]
    extra = [
        last.model_copy(
            update={"seq": last.seq + i, "action": "alert.joined", "at": last.at + timedelta(seconds=i)}
        )
        for i in range(1, 700)
    ]
    review = compile_review("run-long", [*events, *extra], ReviewParams(), NOW)
    assert len(review.timeline) == 500
    assert review.omitted_events > 0
    assert f"{review.omitted_events} later events are not shown" in render_markdown(review)


@pytest.mark.parametrize(
    ("path", "name", "expected"),
    [
        ("quarantine", "quarantine", True),
        ("tell.page", "page", True),
        ("tell.page", "tell.page", True),
        ("revoke[3].call", "call", True),
        ("revoke[3].call", "revoke.call", True),
        ("tell.page", "tell", False),
        ("paged", "page", False),
    ],
)
def test_step_names_match_paths(path: str, name: str, expected: bool) -> None:
    assert matches(path, name) is expected


def test_human_durations() -> None:
    assert [human(s) for s in (None, 42, 303, 7380)] == ["n/a", "42 s", "5 min 03 s", "2 h 03 min"]


def test_the_hostile_title_is_the_default_heading_as_data() -> None:
    review = _review()
    assert review.title == HOSTILE_TITLE
    assert _review(title="Fraud scorer tampering").title == "Fraud scorer tampering"


def test_templated_blanks_and_long_titles_are_accepted() -> None:
    params = ReviewParams.model_validate(
        {"alert_occurred_at": "", "run_id": "", "channel": "", "thread_ts": "", "title": "t" * 1000}
    )
    assert (params.alert_occurred_at, params.run_id, params.channel, params.thread_ts) == (
        None,
        None,
        None,
        None,
    )
    assert params.title is not None and len(params.title) == 300


def test_ids_an_alert_offered_are_listed_as_rejected_and_escaped() -> None:
    from engine.classification import Classification

    found = Classification.for_run(
        {"atlas": ["AML.T0051"]},
        {"fields": {"classification": {"atlas": ["<img src=x onerror=alert(1)>", "AML.T0057"]}}},
    )
    events = incident_events("run-tags", found.for_audit())
    review = compile_review("run-tags", _records(events), ReviewParams(), NOW)
    assert [(g.framework, [t.id for t in g.ids]) for g in review.classification] == [
        ("atlas", ["AML.T0051", "AML.T0057"])
    ]
    assert review.rejected_ids == ["<img src=x onerror=alert(1)>"]
    html, markdown = render_html(review), render_markdown(review)
    assert "<img" not in html and "&lt;img src=x" in html and "<img" not in markdown
    assert "not on the pinned lists" in markdown
