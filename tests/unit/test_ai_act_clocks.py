"""EU AI Act Art. 73 clocks: the binding paragraph and its deadline from the incident facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.errors import TemplateError
from engine.legal.ai_act import AiActFactError, Harm, Regime, clock, parse_harms, regime_for
from engine.templating import TemplateEngine

AWARE = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("harms", "regime", "days"),
    [
        ([], Regime.GENERAL, 15),
        ([Harm.HEALTH], Regime.GENERAL, 15),
        ([Harm.FUNDAMENTAL_RIGHTS, Harm.PROPERTY_OR_ENVIRONMENT], Regime.GENERAL, 15),
        ([Harm.DEATH], Regime.DEATH, 10),
        ([Harm.DEATH, Harm.HEALTH], Regime.DEATH, 10),
        ([Harm.CRITICAL_INFRASTRUCTURE], Regime.WIDESPREAD_OR_CRITICAL, 2),
        ([Harm.WIDESPREAD_INFRINGEMENT], Regime.WIDESPREAD_OR_CRITICAL, 2),
        # 73(3) and 73(4) both apply: the shorter clock binds.
        ([Harm.DEATH, Harm.CRITICAL_INFRASTRUCTURE], Regime.WIDESPREAD_OR_CRITICAL, 2),
    ],
)
def test_the_shortest_applicable_clock_binds(harms: list[Harm], regime: Regime, days: int) -> None:
    found = clock(AWARE, harms)
    assert regime_for(harms) is regime and found.regime is regime and found.days == days
    assert found.deadline == (AWARE + timedelta(days=days)).isoformat().replace("+00:00", "Z")
    assert found.aware_at == "2026-11-20T08:00:00Z" and str(days) in found.basis


def test_the_clock_counts_from_awareness_in_utc_whatever_the_offset() -> None:
    assert clock(AWARE.replace(tzinfo=None), []).deadline == "2026-12-05T08:00:00Z"
    engine = TemplateEngine()
    due = engine.render("{{ t | ai_act_deadline(['death']) }}", {"t": "2026-11-20T09:00:00+01:00"})
    assert due == "2026-11-30T08:00:00Z"


def test_harm_names_are_forgiving_about_case_but_unknown_ones_are_errors() -> None:
    assert parse_harms([" Death ", "death", "HEALTH"]) == [Harm.DEATH, Harm.HEALTH]
    with pytest.raises(AiActFactError, match="'deth' is not an AI Act harm"):
        parse_harms(["deth"])


def test_template_filters_give_the_clock_deadline_and_whether_a_report_was_on_time() -> None:
    engine = TemplateEngine()
    data = {"t": "2026-11-20T08:00:00Z", "h": ["critical_infrastructure"]}
    found = engine.render("{{ t | ai_act_clock(h) }}", data)
    assert found["regime"] == "art73(3)" and found["deadline"] == "2026-11-22T08:00:00Z"
    assert engine.render("{{ (t | ai_act_clock()).regime }}", data) == "art73(2)"
    assert engine.render("{{ t | ai_act_deadline('death') }}", data) == "2026-11-30T08:00:00Z"
    on_time = "{{ sent | on_or_before(t | ai_act_deadline(h)) }}"
    assert engine.render(on_time, {**data, "sent": "2026-11-22T08:00:00Z"}) is True
    assert engine.render(on_time, {**data, "sent": "2026-11-22T08:00:01Z"}) is False
    with pytest.raises(TemplateError, match="ai_act_clock: 'deth' is not an AI Act harm"):
        engine.render("{{ t | ai_act_clock(['deth']) }}", data)
    with pytest.raises(TemplateError, match="not an ISO-8601 timestamp"):
        engine.render("{{ 'soon' | ai_act_deadline }}", data)
    with pytest.raises(TemplateError, match="harms must be a list"):
        engine.render("{{ t | ai_act_clock(3) }}", data)
