"""Turn a run's audit events into a :class:`Review`: timeline, response times, decisions, actions.

Pure functions over already-read events, so the whole analysis is tested without a server. Every
string from the trail is kept as data here; escaping is the renderers' job.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from integrations.review.models import (
    ActionTaken,
    AuditAction,
    AuditRecord,
    ClassificationGroup,
    Decision,
    Durations,
    Review,
    ReviewParams,
    Technique,
    TimelineEntry,
    matches,
)

MAX_TIMELINE = 500
_ACTING_KINDS = frozenset({"action", "playbook"})
_OPEN_OUTCOMES = frozenset({"failed", "timed_out", "cancelled", "skipped"})


def compile_review(
    run_id: str, events: Iterable[AuditRecord], params: ReviewParams, generated_at: datetime
) -> Review:
    """Build the review of ``run_id`` from its events (any order)."""
    trail = sorted(events, key=lambda e: e.seq)
    started = _first(trail, AuditAction.RUN_STARTED)
    finished = _first(trail, AuditAction.RUN_FINISHED)
    origin = started.at if started is not None else (trail[0].at if trail else generated_at)
    alert_title = str(started.detail.get("title", "")) if started is not None else ""
    actions = _actions(trail)
    decisions = _decisions(trail)
    review = Review(
        run_id=run_id,
        playbook=trail[0].playbook if trail else "",
        version=trail[0].version if trail else 0,
        title=params.title or alert_title or f"run {run_id}",
        alert_id=str(started.detail.get("alert", "")) if started is not None else "",
        outcome=(finished.outcome or "unknown") if finished is not None else "running",
        started_at=started.at if started is not None else None,
        finished_at=finished.at if finished is not None else None,
        generated_at=generated_at,
        durations=_durations(trail, params, started, finished),
        timeline=[_entry(e, origin) for e in trail if e.action != AuditAction.STEP_STARTED][:MAX_TIMELINE],
        decisions=decisions,
        actions=actions,
        follow_ups=_follow_ups(trail, actions, params.follow_ups),
        joined_alerts=sum(1 for e in trail if e.action == AuditAction.ALERT_JOINED),
        evidence=params.evidence,
        classification=classification_groups(started),
        rejected_ids=rejected_ids(started),
        events=len(trail),
        missing_seq=_gaps(trail),
    )
    shown = sum(1 for e in trail if e.action != AuditAction.STEP_STARTED)
    review.omitted_events = max(shown - MAX_TIMELINE, 0)
    review.summary = summarize(review)
    return review


def classification_groups(started: AuditRecord | None) -> list[ClassificationGroup]:
    """The run's classification from its ``run.started`` event, one group per framework with ids."""
    raw = started.detail.get("classification") if started is not None else None
    if not isinstance(raw, dict):
        return []
    groups = []
    for framework in ("atlas", "owasp_llm"):
        block = raw.get(framework)
        if not isinstance(block, dict):
            continue
        ids = [
            Technique(id=str(item.get("id", ""))[:40], name=str(item.get("name", ""))[:200])
            for item in block.get("ids", [])
            if isinstance(item, dict) and item.get("id")
        ]
        if ids:
            groups.append(
                ClassificationGroup(
                    framework=framework,
                    title=str(block.get("title", framework))[:100],
                    version=str(block.get("version", ""))[:40],
                    ids=ids,
                )
            )
    return groups


def rejected_ids(started: AuditRecord | None) -> list[str]:
    """Ids the alert offered that were not on the pinned lists."""
    raw = started.detail.get("classification") if started is not None else None
    rejected = raw.get("rejected") if isinstance(raw, dict) else None
    if not isinstance(rejected, list):
        return []
    return [str(r.get("value", ""))[:40] for r in rejected if isinstance(r, dict)][:50]


def _first(trail: list[AuditRecord], action: AuditAction) -> AuditRecord | None:
    return next((e for e in trail if e.action == action), None)


def _durations(
    trail: list[AuditRecord], params: ReviewParams, started: AuditRecord | None, finished: AuditRecord | None
) -> Durations:
    if started is None:
        return Durations()
    occurred = params.alert_occurred_at or _timestamp(started.detail.get("occurred_at"))

    def since_start(names: list[str]) -> float | None:
        done = [
            e.at
            for e in trail
            if e.action == AuditAction.STEP_FINISHED
            and e.outcome == "succeeded"
            and e.step is not None
            and any(matches(e.step, name) for name in names)
        ]
        return (min(done) - started.at).total_seconds() if done else None

    return Durations(
        detect_s=max((started.at - occurred).total_seconds(), 0.0) if occurred is not None else None,
        contain_s=since_start(params.containment_steps),
        notify_s=since_start(params.notification_steps),
        total_s=(finished.at - started.at).total_seconds() if finished is not None else None,
    )


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _entry(event: AuditRecord, origin: datetime) -> TimelineEntry:
    return TimelineEntry(
        at=event.at,
        offset_s=(event.at - origin).total_seconds(),
        event=event.action,
        step=event.step,
        outcome=event.outcome,
        actor=event.actor,
        note=_note(event),
    )


def _note(event: AuditRecord) -> str:
    detail = event.detail
    match event.action:
        case AuditAction.RUN_STARTED | AuditAction.ALERT_JOINED:
            return str(detail.get("title", ""))
        case AuditAction.STEP_FINISHED:
            attempts = detail.get("attempts")
            error = str(detail.get("error") or "")
            parts = [f"{attempts} attempt(s)" if isinstance(attempts, int) and attempts > 1 else "", error]
            return "; ".join(p for p in parts if p)
        case AuditAction.APPROVAL_REQUESTED:
            return "approvers: " + ", ".join(str(a) for a in _list(detail.get("approvers")))
        case AuditAction.APPROVAL_ESCALATED:
            return "escalated to: " + ", ".join(str(a) for a in _list(detail.get("to")))
        case AuditAction.APPROVAL_DECIDED:
            return str(detail.get("reason") or "")
        case AuditAction.RUN_FINISHED:
            return str(detail.get("message") or "")
    return ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _decisions(trail: list[AuditRecord]) -> list[Decision]:
    by_step: dict[str, Decision] = {}
    for event in trail:
        if not event.action.startswith("approval.") or event.step is None:
            continue
        decision = by_step.setdefault(event.step, Decision(step=event.step))
        if event.action == AuditAction.APPROVAL_REQUESTED:
            decision.requested_at = event.at
            decision.approvers = [str(a) for a in _list(event.detail.get("approvers"))]
        elif event.action == AuditAction.APPROVAL_ESCALATED:
            decision.escalated_to = [str(a) for a in _list(event.detail.get("to"))]
        elif event.action == AuditAction.APPROVAL_DECIDED:
            decision.decided_at, decision.decision, decision.by = event.at, event.outcome or "", event.actor
            decision.reason = str(event.detail.get("reason") or "")
            decision.via = str(event.detail.get("via") or "")
        elif event.action == AuditAction.APPROVAL_TIMED_OUT:
            decision.decided_at, decision.decision, decision.by = event.at, event.outcome or "", "timeout"
            decision.timed_out = True
    return list(by_step.values())


def _actions(trail: list[AuditRecord]) -> list[ActionTaken]:
    taken: dict[str, ActionTaken] = {}
    for event in trail:
        if event.step is None:
            continue
        if event.action == AuditAction.STEP_STARTED and event.detail.get("kind") in _ACTING_KINDS:
            kind = str(event.detail["kind"])
            taken[event.step] = ActionTaken(
                step=event.step, kind=kind, outcome="running", started_at=event.at
            )
        elif event.action == AuditAction.STEP_FINISHED and event.step in taken:
            item = taken[event.step]
            attempts = event.detail.get("attempts")
            item.outcome = event.outcome or "unknown"
            item.finished_at = event.at
            item.attempts = attempts if isinstance(attempts, int) else 0
            item.error = str(event.detail.get("error") or "")
    return list(taken.values())


def _follow_ups(trail: list[AuditRecord], actions: list[ActionTaken], given: list[str]) -> list[str]:
    items: list[str] = []
    finished = {e.step: e for e in trail if e.action == AuditAction.STEP_FINISHED and e.step is not None}
    for event in trail:
        if event.action != AuditAction.STEP_STARTED or event.step is None:
            continue
        end = finished.get(event.step)
        if end is None:
            items.append(f"Step {event.step} started but never finished")
        elif end.outcome in _OPEN_OUTCOMES:
            error = str(end.detail.get("error") or "")
            items.append(f"Step {event.step} {end.outcome}" + (f": {error}" if error else ""))
    return list(dict.fromkeys([*items, *given]))


def _gaps(trail: list[AuditRecord]) -> list[int]:
    seen = {e.seq for e in trail}
    return [n for n in range(1, max(seen, default=0) + 1) if n not in seen][:100]


def human(seconds: float | None) -> str:
    """``2 h 03 min``, ``5 min 03 s``, ``42 s``; ``n/a`` when unknown."""
    if seconds is None:
        return "n/a"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def summarize(review: Review) -> str:
    """One line for chat and the review's index entry."""
    d = review.durations
    failed = sum(1 for a in review.actions if a.outcome != "succeeded")
    return (
        f"{review.playbook or 'run'} {review.run_id}: {review.outcome}; "
        f"detect {human(d.detect_s)}, contain {human(d.contain_s)}, notify {human(d.notify_s)}; "
        f"{len(review.decisions)} decision(s), {len(review.actions)} action(s)"
        + (f" ({failed} not succeeded)" if failed else "")
        + f", {len(review.follow_ups)} open follow-up(s)"
    )
