"""Trigger rules decide which alerts start which playbooks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from engine.alerts import Alert, MatchMode, MatchRule, lookup, matches, normalize_elastic, select_rule
from engine.alerts.matching import mismatch
from engine.alerts.model import AlertSource, Severity

DATA = Path(__file__).resolve().parents[1] / "data" / "alerts"
RECEIVED = datetime(2026, 11, 20, 8, 14, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def injection() -> Alert:
    doc = json.loads((DATA / "elastic_prompt_injection.json").read_text(encoding="utf-8"))
    return normalize_elastic(doc, received_at=RECEIVED).alerts[0]


def make(**fields: Any) -> Alert:
    return Alert(
        id="a",
        source=AlertSource.GENERIC,
        rule="r",
        fingerprint="f",
        occurred_at=RECEIVED,
        received_at=RECEIVED,
        fields=fields,
    )


# --- lookup ---------------------------------------------------------------------------------


def test_lookup_nested_flat_and_mixed() -> None:
    doc = {
        "kibana.alert.rule.name": "flat",
        "ml": {"model": {"name": "nested"}},
        "user": {"api_key.id": "mixed"},
        "a": None,
    }
    assert lookup(doc, "kibana.alert.rule.name") == (True, "flat")
    assert lookup(doc, "ml.model.name") == (True, "nested")
    assert lookup(doc, "ml.model") == (True, {"name": "nested"})
    assert lookup(doc, "user.api_key.id") == (True, "mixed")
    assert lookup(doc, "a") == (True, None)
    assert lookup(doc, "kibana.alert") == (False, None)
    assert lookup(doc, "ml.model.name.x") == (False, None)
    assert lookup(doc, "") == (False, None)
    assert lookup(doc, "ml..model") == (False, None)


def test_lookup_prefers_the_longest_flat_key_and_backtracks() -> None:
    doc = {"a.b": {"c": 1}, "a": {"b": {"c": 2, "d": 3}}}
    assert lookup(doc, "a.b.c") == (True, 1)
    assert lookup(doc, "a.b.d") == (True, 3)  # "a.b" has no "d": the nested path is tried next


def test_lookup_does_not_index_into_arrays() -> None:
    assert lookup({"tags": ["x"]}, "tags.0") == (False, None)


# --- conditions -----------------------------------------------------------------------------


def test_the_playbook_format_example(injection: Alert) -> None:
    conditions = {
        "rule": "AI model *",
        "severity": ["high", "critical"],
        "fields.ml.model.name": {"exists": True},
    }
    assert matches(conditions, injection)
    assert not matches({**conditions, "severity": ["critical"]}, injection)
    assert not matches({**conditions, "rule": "ai model *"}, injection)  # globs are case-sensitive


def test_flat_dotted_kibana_keys_resolve_under_fields(injection: Alert) -> None:
    assert matches({"fields.kibana.alert.rule.category": "Custom*"}, injection)
    assert matches({"fields.user.api_key.id": "ak_live_*", "entities.models": "fraud-scorer"}, injection)


def test_globs_match_strings_only() -> None:
    alert = make(code="4625", count=4625, name="web-01")
    assert matches({"fields.code": "46*"}, alert)
    assert not matches({"fields.count": "46*"}, alert)
    assert matches({"fields.name": "web-0[0-9]"}, alert)
    assert matches({"fields.name": "web-?1"}, alert)


def test_lists_mean_one_of() -> None:
    alert = make(env="prod-eu", n=3)
    assert matches({"fields.env": ["staging", "prod-*"]}, alert)
    assert matches({"fields.n": [1, 2, 3]}, alert)
    assert not matches({"fields.env": ["staging", "dev"]}, alert)


def test_exists_treats_null_and_empty_array_as_absent() -> None:
    alert = make(a=1, b=None, c=[], d=False)
    assert matches({"fields.a": {"exists": True}, "fields.d": {"exists": True}}, alert)
    for path in ("fields.b", "fields.c", "fields.missing"):
        assert matches({path: {"exists": False}}, alert)
        assert not matches({path: {"exists": True}}, alert)
    assert not matches({"fields.a": {"exists": False}}, alert)


def test_numbers_and_booleans_compare_by_value_and_type() -> None:
    alert = make(flag=True, one=1, ratio=0.5, nothing=None)
    assert matches({"fields.flag": True, "fields.one": 1, "fields.ratio": 0.5, "fields.nothing": None}, alert)
    assert matches({"fields.one": 1.0}, alert)
    assert not matches({"fields.flag": 1}, alert)
    assert not matches({"fields.one": True}, alert)
    assert not matches({"fields.one": "1"}, alert)
    assert not matches({"fields.missing": None}, alert)


def test_array_values_match_when_any_element_does() -> None:
    alert = make(tags=["ai", "llm"], ports=[22, 443])
    assert matches({"fields.tags": "ll*", "fields.ports": 443}, alert)
    assert not matches({"fields.tags": "web"}, alert)


def test_every_condition_must_hold_and_mismatch_says_which() -> None:
    alert = make(a="x", b="y")
    assert mismatch({"fields.a": "x", "fields.b": "z"}, alert) == "fields.b: 'y' does not match 'z'"
    assert mismatch({"fields.zz": "z"}, alert) == "fields.zz: missing"
    assert mismatch({"fields.a": {"exists": False}}, alert) == "fields.a: present"
    assert mismatch({}, alert) is None


# --- rules ----------------------------------------------------------------------------------


def test_match_rule_validation() -> None:
    assert MatchRule.model_validate({"match": {"rule": "x"}}).source == "any"
    bad: dict[str, Any]
    for bad in (
        {"source": "splunk", "match": {}},
        {"match": {"rule": {"equals": "x"}}},
        {"match": {"rule": {"exists": "yes"}}},
        {"match": {"rule": []}},
        {"match": {"rule": [["nested"]]}},
        {"match": {"": "x"}},
        {"match": {"fields..a": "x"}},
        {"match": {"rule": "x"}, "extra": 1},
        {"source": "elastic"},
    ):
        with pytest.raises(ValidationError):
            MatchRule.model_validate(bad)


def test_select_rule_any_first_match_wins(injection: Alert) -> None:
    wrong_source = MatchRule(source="alertmanager", match={"rule": "AI model *"})
    low = MatchRule(source="elastic", match={"severity": "low"})
    hit = MatchRule(source="elastic", match={"rule": "AI model *"})
    also = MatchRule(match={"entities.api_keys": "ak_*"})
    assert select_rule([wrong_source, low, hit, also], injection, MatchMode.ANY) is hit
    assert select_rule([wrong_source, low], injection, "any") is None
    assert wrong_source.mismatch(injection) == "source: elastic is not alertmanager"
    assert select_rule([], injection) is None


def test_select_rule_all_needs_every_rule(injection: Alert) -> None:
    by_rule = MatchRule(source="elastic", match={"rule": "AI model *"})
    by_severity = MatchRule(match={"severity": ["high", "critical"]})
    assert select_rule([by_rule, by_severity], injection, MatchMode.ALL) is by_rule
    assert select_rule([by_rule, MatchRule(match={"severity": "info"})], injection, "all") is None


def test_severity_and_source_match_as_their_names(injection: Alert) -> None:
    assert injection.severity is Severity.HIGH
    assert matches({"source": "elastic", "severity": "high", "occurred_at": "2026-11-20T*"}, injection)


PATHS = st.sampled_from(
    ["rule", "severity", "fields.a", "fields.a.b", "fields.a.b.c", "entities.hosts", "x.y"]
)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(["*", "[", "a.b"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "c", "a.b", "b.c", "exists"]), children, max_size=3)
    ),
    max_leaves=12,
)
CONDITIONS = st.dictionaries(
    PATHS,
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=6)
    | st.lists(st.text(max_size=4) | st.integers(), min_size=1, max_size=3)
    | st.builds(lambda b: {"exists": b}, st.booleans()),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(conditions=CONDITIONS, fields=st.dictionaries(st.sampled_from(["a", "a.b", "z"]), VALUES, max_size=3))
def test_any_valid_rule_evaluates_against_any_alert(
    conditions: dict[str, Any], fields: dict[str, Any]
) -> None:
    rule = MatchRule(match=conditions)
    alert = make(**fields)
    assert rule.matches(alert) is (rule.mismatch(alert) is None)
