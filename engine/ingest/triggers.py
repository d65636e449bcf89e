"""Which playbooks an alert starts: the catalog's triggers, compiled once (no temporalio here).

A playbook with ``trigger.any`` starts on the first rule that matches; with ``trigger.all`` every
rule must match. A rule's ``source`` must equal the alert's (``any`` matches every source).
Invalid playbooks are left out and reported in :attr:`TriggerSet.skipped`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from engine.alerts.matching import MatchMode, MatchRule, alert_view, mismatch
from engine.alerts.model import Alert
from engine.errors import FirelineError
from engine.plan.compile import compile_plan
from engine.plan.models import Plan
from engine.spec.catalog import Catalog
from engine.spec.models import Playbook

MAX_MISMATCHES = 20


@dataclass(frozen=True)
class TriggeredPlaybook:
    """A playbook that starts by itself: on alerts (``rules``) and/or on a clock (``schedule``)."""

    name: str
    plan: Plan
    mode: MatchMode
    rules: tuple[MatchRule, ...]
    schedule: str | None = None


@dataclass(frozen=True)
class Match:
    """A playbook whose trigger matched an alert, and by which rule."""

    playbook: TriggeredPlaybook
    rule: int


@dataclass
class MatchReport:
    """Matches for one alert, and why the other playbooks did not match."""

    matches: list[Match] = field(default_factory=list)
    mismatches: dict[str, str] = field(default_factory=dict)

    def reason(self) -> str:
        """One line for ``fireline alerts`` when nothing matched."""
        if not self.mismatches:
            return "no playbook has an alert trigger"
        return "; ".join(f"{name}: {why}" for name, why in self.mismatches.items())


@dataclass
class TriggerSet:
    """Every playbook with a trigger, compiled, ready to match alerts."""

    playbooks: list[TriggeredPlaybook] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> TriggerSet:
        """Compile the triggered playbooks of ``catalog``; invalid ones go to :attr:`skipped`."""
        out = cls()
        for entry in catalog.entries:
            spec = entry.playbook
            if spec is None or spec.trigger is None:
                if spec is None and entry.diagnostics:
                    out.skipped[entry.name or entry.file] = entry.diagnostics[0].render()
                continue
            name = spec.metadata.name
            try:
                plan = compile_plan(entry, catalog)
                mode, rules = _rules(spec)
            except (FirelineError, ValidationError, ValueError) as exc:
                out.skipped[name] = str(exc).splitlines()[0][:300]
                continue
            out.playbooks.append(TriggeredPlaybook(name, plan, mode, rules, spec.trigger.schedule))
        return out

    @property
    def alert_triggered(self) -> list[TriggeredPlaybook]:
        """Playbooks that alerts can start."""
        return [p for p in self.playbooks if p.rules]

    @property
    def scheduled(self) -> list[TriggeredPlaybook]:
        """Playbooks that run on a cron schedule."""
        return [p for p in self.playbooks if p.schedule]

    def get(self, name: str) -> TriggeredPlaybook | None:
        """The triggered playbook called ``name``."""
        return next((p for p in self.playbooks if p.name == name), None)

    def match(self, alert: Alert) -> MatchReport:
        """Every playbook ``alert`` triggers, in catalog order, and why the others do not."""
        view = alert_view(alert)
        report = MatchReport()
        for playbook in self.alert_triggered:
            rule, why = _evaluate(playbook, view)
            if rule is not None:
                report.matches.append(Match(playbook, rule))
            elif len(report.mismatches) < MAX_MISMATCHES:
                report.mismatches[playbook.name] = why
        return report


def _rules(spec: Playbook) -> tuple[MatchMode, tuple[MatchRule, ...]]:
    trigger = spec.trigger
    if trigger is None:
        return MatchMode.ANY, ()
    mode = MatchMode.ALL if trigger.all else MatchMode.ANY
    raw = trigger.all if trigger.all else (trigger.any or [])
    return mode, tuple(MatchRule(source=r.source, match=r.match) for r in raw)


def _rule_mismatch(rule: MatchRule, view: dict[str, object]) -> str | None:
    if rule.source != "any" and view.get("source") != rule.source:
        return f"source: {view.get('source')} is not {rule.source}"
    return mismatch(rule.match, view)


def _evaluate(playbook: TriggeredPlaybook, view: dict[str, object]) -> tuple[int | None, str]:
    """``(index of the matching rule, "")`` or ``(None, why not)``."""
    if playbook.mode is MatchMode.ANY:
        reasons = []
        for index, rule in enumerate(playbook.rules):
            why = _rule_mismatch(rule, view)
            if why is None:
                return index, ""
            reasons.append(why if len(playbook.rules) == 1 else f"rule {index}: {why}")
        return None, " | ".join(reasons)
    for index, rule in enumerate(playbook.rules):
        why = _rule_mismatch(rule, view)
        if why is not None:
            return None, why if len(playbook.rules) == 1 else f"rule {index}: {why}"
    return 0, ""
