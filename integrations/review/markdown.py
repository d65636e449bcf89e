"""Render a :class:`Review` as Markdown.

Everything that comes from the trail or the evidence (titles, step names, reasons, errors, people)
is escaped: Markdown punctuation gets a backslash and ``& < >`` become entities, so no alert text
turns into a link, an image, raw HTML or a broken table in whatever renders the file.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from integrations.review.analysis import human
from integrations.review.models import Review

MAX_CELL = 300
MAX_EVIDENCE = 2000
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def text(value: Any, limit: int = MAX_CELL) -> str:
    """One line of escaped inline Markdown: whitespace collapsed, cut at ``limit`` characters."""
    line = " ".join(str(value).split())
    if len(line) > limit:
        line = line[: limit - 1] + "…"
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", line)


def stamp(moment: datetime | None) -> str:
    """``2026-11-20 08:14:03Z`` (UTC), or ``n/a``."""
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment is not None else "n/a"


def offset(seconds: float) -> str:
    """``+1:02:03`` from the run's start."""
    whole = max(round(seconds), 0)
    hours, rest = divmod(whole, 3600)
    return f"+{hours}:{rest // 60:02d}:{rest % 60:02d}"


def evidence_value(value: Any) -> str:
    """Evidence as compact text (JSON for structures), before escaping."""
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def render_markdown(review: Review) -> str:
    """The review as a Markdown document."""
    d = review.durations
    out = [
        f"# Post-incident review: {text(review.title)}",
        "",
        f"Run {text(review.run_id)} · playbook {text(review.playbook or 'n/a')} v{review.version} · "
        f"outcome **{text(review.outcome)}** · generated {stamp(review.generated_at)}",
        "",
        "## Summary",
        "",
        text(review.summary, 1000),
        "",
        f"- Started: {stamp(review.started_at)}; finished: {stamp(review.finished_at)}",
        f"- Alert: {text(review.alert_id or 'n/a')}; alerts joined later: {review.joined_alerts}",
        "",
        *_classification(review),
        "## Response times",
        "",
        *_table(
            ["Measure", "Time"],
            [
                ["Time to detect (problem began → run started)", human(d.detect_s)],
                ["Time to contain (run started → first containment step done)", human(d.contain_s)],
                ["Time to notify (run started → first notification sent)", human(d.notify_s)],
                ["Run duration", human(d.total_s)],
            ],
        ),
        "## Timeline",
        "",
        *_table(
            ["Time (UTC)", "Since start", "Event", "Step", "Outcome", "By", "Note"],
            [
                [
                    stamp(e.at),
                    offset(e.offset_s),
                    text(e.event),
                    text(e.step or ""),
                    text(e.outcome or ""),
                    text(e.actor or ""),
                    text(e.note),
                ]
                for e in review.timeline
            ],
        ),
    ]
    if review.omitted_events:
        out += [f"_{review.omitted_events} later events are not shown._", ""]
    out += ["## Decisions", ""]
    out += (
        _table(
            ["Step", "Decision", "By", "Reason", "Approvers", "Waited"],
            [
                [
                    text(x.step),
                    text(x.decision + (" (timed out)" if x.timed_out else "")),
                    text(x.by or "nobody"),
                    text(x.reason),
                    text(", ".join(x.approvers + x.escalated_to)),
                    human(x.waited_s),
                ]
                for x in review.decisions
            ],
        )
        if review.decisions
        else ["No approvals were asked for.", ""]
    )
    out += ["## Actions taken", ""]
    out += (
        _table(
            ["Step", "Kind", "Outcome", "Attempts", "Took", "Error"],
            [
                [
                    text(a.step),
                    text(a.kind),
                    text(a.outcome),
                    str(a.attempts),
                    human((a.finished_at - a.started_at).total_seconds())
                    if a.finished_at and a.started_at
                    else "n/a",
                    text(a.error),
                ]
                for a in review.actions
            ],
        )
        if review.actions
        else ["No actions were run.", ""]
    )
    out += ["## Open follow-ups", ""]
    out += [f"- [ ] {text(item, 1000)}" for item in review.follow_ups] or ["None."]
    out += [""]
    if review.evidence:
        out += ["## Evidence", ""]
        out += [
            f"- **{text(k, 100)}**: {text(evidence_value(v), MAX_EVIDENCE)}"
            for k, v in review.evidence.items()
        ]
        out += [""]
    gaps = ", ".join(str(n) for n in review.missing_seq) or "none"
    out += ["## Audit trail", "", f"{review.events} events read; missing sequence numbers: {gaps}.", ""]
    return "\n".join(out)


def _classification(review: Review) -> list[str]:
    """One sub-section per framework, its ids with their names."""
    if not review.classification and not review.rejected_ids:
        return []
    out = ["## Classification", ""]
    for group in review.classification:
        out += [f"### {text(group.title)} {text(group.version)}".rstrip(), ""]
        out += [f"- **{text(t.id)}** {text(t.name)}".rstrip() for t in group.ids]
        out.append("")
    if review.rejected_ids:
        shown = ", ".join(text(v, 40) for v in review.rejected_ids)
        out += [f"Ids the alert offered that are not on the pinned lists (not applied): {shown}", ""]
    return out
