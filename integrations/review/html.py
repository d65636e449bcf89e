"""Render a :class:`Review` as a standalone HTML page.

The page is built from the review itself, not by converting Markdown, and every value passes
through :func:`html.escape`: trail and evidence text can never become markup, script or a link.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from integrations.review.analysis import human
from integrations.review.markdown import MAX_CELL, MAX_EVIDENCE, evidence_value, offset, stamp
from integrations.review.models import Review

_STYLE = (
    "body{font-family:sans-serif;max-width:72rem;margin:2rem auto;line-height:1.4}"
    "table{border-collapse:collapse;margin:.5rem 0 1.5rem}"
    "th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}"
    "th{background:#f4f4f4}"
)


def _e(value: object, limit: int = MAX_CELL) -> str:
    line = " ".join(str(value).split())
    return escape(line if len(line) <= limit else line[: limit - 1] + "…")


def _table(header: list[str], rows: Iterable[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(review: Review) -> str:
    """The review as an HTML document (cells are escaped before they reach :func:`_table`)."""
    d = review.durations
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Post-incident review: {_e(review.title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Post-incident review: {_e(review.title)}</h1>",
        f"<p>Run <code>{_e(review.run_id)}</code> · playbook {_e(review.playbook or 'n/a')} v{review.version}"
        f" · outcome <strong>{_e(review.outcome)}</strong> · generated {stamp(review.generated_at)}</p>",
        "<h2>Summary</h2>",
        f"<p>{_e(review.summary, 1000)}</p>",
        f"<p>Started: {stamp(review.started_at)}; finished: {stamp(review.finished_at)}. "
        f"Alert: {_e(review.alert_id or 'n/a')}; alerts joined later: {review.joined_alerts}.</p>",
        *_classification(review),
        "<h2>Response times</h2>",
        _table(
            ["Measure", "Time"],
            [
                ["Time to detect (problem began → run started)", human(d.detect_s)],
                ["Time to contain (run started → first containment step done)", human(d.contain_s)],
                ["Time to notify (run started → first notification sent)", human(d.notify_s)],
                ["Run duration", human(d.total_s)],
            ],
        ),
        "<h2>Timeline</h2>",
        _table(
            ["Time (UTC)", "Since start", "Event", "Step", "Outcome", "By", "Note"],
            (
                [
                    stamp(e.at),
                    offset(e.offset_s),
                    _e(e.event),
                    _e(e.step or ""),
                    _e(e.outcome or ""),
                    _e(e.actor or ""),
                    _e(e.note),
                ]
                for e in review.timeline
            ),
        ),
    ]
    if review.omitted_events:
        parts.append(f"<p><em>{review.omitted_events} later events are not shown.</em></p>")
    parts.append("<h2>Decisions</h2>")
    parts.append(
        _table(
            ["Step", "Decision", "By", "Reason", "Approvers", "Waited"],
            (
                [
                    _e(x.step),
                    _e(x.decision + (" (timed out)" if x.timed_out else "")),
                    _e(x.by or "nobody"),
                    _e(x.reason),
                    _e(", ".join(x.approvers + x.escalated_to)),
                    human(x.waited_s),
                ]
                for x in review.decisions
            ),
        )
        if review.decisions
        else "<p>No approvals were asked for.</p>"
    )
    parts.append("<h2>Actions taken</h2>")
    parts.append(
        _table(
            ["Step", "Kind", "Outcome", "Attempts", "Took", "Error"],
            (
                [
                    _e(a.step),
                    _e(a.kind),
                    _e(a.outcome),
                    str(a.attempts),
                    human((a.finished_at - a.started_at).total_seconds())
                    if a.finished_at and a.started_at
                    else "n/a",
                    _e(a.error),
                ]
                for a in review.actions
            ),
        )
        if review.actions
        else "<p>No actions were run.</p>"
    )
    parts.append("<h2>Open follow-ups</h2>")
    items = "".join(f"<li>{_e(item, 1000)}</li>" for item in review.follow_ups)
    parts.append(f"<ul>{items}</ul>" if items else "<p>None.</p>")
    if review.evidence:
        rows = "".join(
            f"<dt>{_e(k, 100)}</dt><dd>{_e(evidence_value(v), MAX_EVIDENCE)}</dd>"
            for k, v in review.evidence.items()
        )
        parts += ["<h2>Evidence</h2>", f"<dl>{rows}</dl>"]
    gaps = ", ".join(str(n) for n in review.missing_seq) or "none"
    parts += [
        "<h2>Audit trail</h2>",
        f"<p>{review.events} events read; missing sequence numbers: {gaps}.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _classification(review: Review) -> list[str]:
    if not review.classification and not review.rejected_ids:
        return []
    parts = ["<h2>Classification</h2>"]
    for group in review.classification:
        parts.append(f"<h3>{_e(group.title)} {_e(group.version)}</h3>")
        parts.append(_table(["Id", "Name"], ([f"<code>{_e(t.id)}</code>", _e(t.name)] for t in group.ids)))
    if review.rejected_ids:
        shown = ", ".join(_e(v, 40) for v in review.rejected_ids)
        parts.append(f"<p>Ids the alert offered that are not on the pinned lists (not applied): {shown}</p>")
    return parts
