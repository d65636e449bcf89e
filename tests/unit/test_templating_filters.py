"""fireline's extra filters, used the way playbooks use them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from engine.errors import TemplateError
from engine.templating import TemplateEngine


@pytest.fixture(scope="module")
def engine() -> TemplateEngine:
    return TemplateEngine()


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("2026-11-20T08:14:03Z", "2026-11-23T08:14:03Z"),
        ("2026-11-20T10:14:03+02:00", "2026-11-23T08:14:03Z"),
        ("2026-11-20T08:14:03.250Z", "2026-11-23T08:14:03.250000Z"),
        ("2026-11-20T08:14:03", "2026-11-23T08:14:03Z"),
        (datetime(2026, 11, 20, 8, 14, 3, tzinfo=UTC), "2026-11-23T08:14:03Z"),
        (datetime(2026, 11, 20, 3, 14, 3, tzinfo=timezone(timedelta(hours=-5))), "2026-11-23T08:14:03Z"),
    ],
)
def test_add_hours_returns_utc_iso_with_z(engine: TemplateEngine, ts: Any, expected: str) -> None:
    assert engine.render("{{ ts | add_hours(72) }}", {"ts": ts}) == expected


def test_add_hours_and_days_accept_fractions_and_negatives(engine: TemplateEngine) -> None:
    ctx = {"ts": "2026-03-01T00:00:00Z"}
    assert engine.render("{{ ts | add_hours(1.5) }}", ctx) == "2026-03-01T01:30:00Z"
    assert engine.render("{{ ts | add_days(-1) }}", ctx) == "2026-02-28T00:00:00Z"
    assert engine.render("{{ ts | add_days(30) }}", ctx) == "2026-03-31T00:00:00Z"
    assert (
        engine.render("wait until {{ ts | add_days(1) | add_hours(2) }}", ctx)
        == "wait until 2026-03-02T02:00:00Z"
    )


@pytest.mark.parametrize(
    ("text", "ctx", "message"),
    [
        ("{{ ts | add_hours(1) }}", {"ts": "yesterday"}, "not an ISO-8601 timestamp"),
        ("{{ ts | add_hours(1) }}", {"ts": 1700000000}, "expected a timestamp"),
        ("{{ ts | add_hours('3') }}", {"ts": "2026-01-01T00:00:00Z"}, "must be a number"),
        ("{{ ts | add_days(-800000) }}", {"ts": "2026-01-01T00:00:00Z"}, "out of range"),
        ("{{ nope | add_days(1) }}", {}, "undefined: nope"),
    ],
)
def test_time_filters_reject_bad_input(
    engine: TemplateEngine, text: str, ctx: dict[str, Any], message: str
) -> None:
    with pytest.raises(TemplateError, match=message):
        engine.render(text, ctx)


def test_to_json_is_compact_sorted_and_stable(engine: TemplateEngine) -> None:
    a = {"b": [1, {"z": None, "y": True}], "a": "é", "when": datetime(2026, 1, 1, tzinfo=UTC)}
    b = {"when": datetime(2026, 1, 1, tzinfo=UTC), "a": "é", "b": [1, {"y": True, "z": None}]}
    expected = '{"a":"é","b":[1,{"y":true,"z":null}],"when":"2026-01-01T00:00:00Z"}'
    assert engine.render("{{ v | to_json }}", {"v": a}) == expected
    assert engine.render("{{ v | to_json }}", {"v": b}) == expected
    with pytest.raises(TemplateError, match="to_json"):
        engine.render("{{ v | to_json }}", {"v": float("nan")})


def test_sha256_of_text_and_of_data(engine: TemplateEngine) -> None:
    assert engine.render("{{ 'abc' | sha256 }}", {}) == hashlib.sha256(b"abc").hexdigest()
    data_hash = engine.render("{{ v | sha256 }}", {"v": {"b": 1, "a": 2}})
    assert data_hash == hashlib.sha256(b'{"a":2,"b":1}').hexdigest()
    assert engine.render("{{ v | sha256 }}", {"v": {"a": 2, "b": 1}}) == data_hash


def test_redact_masks_strings_recursively(engine: TemplateEngine) -> None:
    ctx = {
        "secret": "sk-live-1234567890",
        "doc": {"token": "abcdefgh", "list": ["xyz", None, 12345678, True], "none": None},
    }
    assert engine.render("{{ secret | redact }}", ctx) == "**************7890"
    assert engine.render("{{ secret | redact(keep=2) }}", ctx) == "****************90"
    assert engine.render("{{ secret | redact(0) }}", ctx) == "*" * 18
    assert engine.render("{{ doc | redact }}", ctx) == {
        "token": "****efgh",
        "list": ["***", None, "****5678", True],
        "none": None,
    }
    assert engine.render("{{ none | redact }}", {}) is None
    with pytest.raises(TemplateError, match="keep"):
        engine.render("{{ secret | redact(-1) }}", ctx)


def test_builtin_filters_still_work(engine: TemplateEngine) -> None:
    ctx = {"hits": [{"n": 2, "u": "b"}, {"n": 1, "u": "a"}, {"n": 3, "u": "a"}]}
    assert engine.render("{{ hits | sort(attribute='n') | map(attribute='u') | list }}", ctx) == [
        "a",
        "b",
        "a",
    ]
    assert engine.render("{{ hits | selectattr('u', 'eq', 'a') | list | length }}", ctx) == 2
    assert engine.render("{{ hits | map(attribute='n') | sum }}", ctx) == 6
    assert engine.render("{{ '%s-%05d' | format('x', 42) }}", ctx) == "x-00042"
    assert engine.render("{{ '{}:{:>4}'.format('a', 7) }}", ctx) == "a:   7"
    assert engine.render("{{ 'a b' | replace(' ', '_') | upper }}", ctx) == "A_B"
    assert engine.render("{{ 'x' * 3 ~ '!' }}", ctx) == "xxx!"
