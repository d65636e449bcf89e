"""Trigger matching: does a normalized alert satisfy a playbook's ``trigger`` rules?

Semantics of one ``match:`` condition (``path: expected``), the path being dotted into the
normalized alert (``rule``, ``severity``, ``entities.models``, ``fields.ml.model.name``):

- a string is a case-sensitive glob (``fnmatch``: ``*``, ``?``, ``[abc]``) and matches strings only;
- a list means "one of": each element is a glob (strings) or an exact value;
- ``{exists: true|false}`` tests presence (``null`` and ``[]`` count as absent, as in Elasticsearch);
- numbers, booleans and ``null`` must be equal (``true`` never equals ``1``);
- when the alert's value is an array, the condition holds if any element satisfies it.

All conditions of a rule must hold. A missing path fails every condition but ``exists: false``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from engine.alerts.model import Alert
from engine.alerts.paths import MAX_PATH_PARTS, lookup

__all__ = ["MatchMode", "MatchRule", "alert_view", "lookup", "matches", "mismatch", "select_rule"]

_Scalar = str | int | float | bool | None


class MatchMode(StrEnum):
    """How a trigger combines its rules."""

    ANY = "any"  # the first matching rule wins
    ALL = "all"  # every rule must match


class MatchRule(BaseModel):
    """One rule of a trigger: a source and the conditions an alert must meet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["elastic", "alertmanager", "generic", "any"] = "any"
    match: dict[str, Any]

    @field_validator("match")
    @classmethod
    def _check_conditions(cls, conditions: dict[str, Any]) -> dict[str, Any]:
        for path, expected in conditions.items():
            parts = path.split(".")
            if not path or "" in parts or len(parts) > MAX_PATH_PARTS:
                raise ValueError(f"{path!r} is not a dotted path such as fields.ml.model.name")
            _check_expected(path, expected)
        return conditions

    def mismatch(self, alert: Alert) -> str | None:
        """Why ``alert`` does not match this rule, or ``None`` when it does."""
        return _rule_mismatch(self, alert_view(alert))

    def matches(self, alert: Alert) -> bool:
        """True when ``alert`` comes from this rule's source and meets every condition."""
        return self.mismatch(alert) is None


def _check_expected(path: str, expected: object) -> None:
    if isinstance(expected, dict):
        if set(expected) != {"exists"} or not isinstance(expected["exists"], bool):
            raise ValueError(f"{path}: an object condition must be {{exists: true}} or {{exists: false}}")
    elif isinstance(expected, list):
        if not expected:
            raise ValueError(f"{path}: an empty list matches nothing")
        for item in expected:
            if not isinstance(item, _Scalar):
                raise ValueError(f"{path}: list items must be strings, numbers, booleans or null")
    elif not isinstance(expected, _Scalar):
        raise ValueError(f"{path}: expected a string, number, boolean, null, list or {{exists: ...}}")


def alert_view(alert: Alert) -> dict[str, Any]:
    """The alert as conditions see it: JSON types, with ``fields`` shared rather than copied."""
    view = alert.model_dump(mode="json", exclude={"fields"})
    view["fields"] = alert.fields
    return view


def _same(expected: object, actual: object) -> bool:
    if isinstance(expected, str):
        return isinstance(actual, str) and fnmatchcase(actual, expected)
    if isinstance(expected, bool) or expected is None:
        return actual is expected
    if isinstance(expected, int | float):
        return isinstance(actual, int | float) and not isinstance(actual, bool) and actual == expected
    return expected == actual


def _holds(expected: object, found: bool, actual: object) -> bool:
    if isinstance(expected, Mapping):
        present = found and actual is not None and actual != []
        return present is bool(expected.get("exists"))
    if not found:
        return False
    candidates: Sequence[object] = actual if isinstance(actual, list) else (actual,)
    options: Sequence[object] = expected if isinstance(expected, list) else (expected,)
    return any(_same(option, value) for value in candidates for option in options)


def _show(value: object) -> str:
    # Alert values are attacker text: clip them before they reach a message or a log.
    return f"{value!r:.80}"


def mismatch(conditions: Mapping[str, Any], alert: Alert | Mapping[str, Any]) -> str | None:
    """The first condition ``alert`` fails, as ``"path: reason"``, or ``None`` when all hold.

    Args:
        conditions: a rule's ``match`` mapping.
        alert: an :class:`Alert`, or a view of one from :func:`alert_view` (reused across rules).
    """
    view = alert_view(alert) if isinstance(alert, Alert) else alert
    for path, expected in conditions.items():
        found, actual = lookup(view, path)
        if not _holds(expected, found, actual):
            if isinstance(expected, Mapping):
                return f"{path}: {'missing' if expected.get('exists') else 'present'}"
            if not found:
                return f"{path}: missing"
            return f"{path}: {_show(actual)} does not match {_show(expected)}"
    return None


def matches(conditions: Mapping[str, Any], alert: Alert | Mapping[str, Any]) -> bool:
    """True when ``alert`` meets every condition (see the module docstring)."""
    return mismatch(conditions, alert) is None


def _rule_mismatch(rule: MatchRule, view: Mapping[str, Any]) -> str | None:
    if rule.source != "any" and view.get("source") != rule.source:
        return f"source: {view.get('source')} is not {rule.source}"
    return mismatch(rule.match, view)


def select_rule(
    rules: Sequence[MatchRule], alert: Alert, mode: MatchMode | str = MatchMode.ANY
) -> MatchRule | None:
    """The rule by which ``alert`` triggers, or ``None`` when it does not.

    With ``any`` the first matching rule wins. With ``all`` every rule must match and the first
    rule stands for the set. An empty list never triggers (such a playbook runs only by hand).
    """
    if not rules:
        return None
    view = alert_view(alert)
    if MatchMode(mode) is MatchMode.ANY:
        return next((rule for rule in rules if _rule_mismatch(rule, view) is None), None)
    return rules[0] if all(_rule_mismatch(rule, view) is None for rule in rules) else None
