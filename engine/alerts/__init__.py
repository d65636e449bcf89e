"""Alert sources, normalization, trigger matching and fingerprints (no temporalio)."""

from engine.alerts.alertmanager import normalize_alertmanager
from engine.alerts.elastic import normalize_elastic
from engine.alerts.generic import normalize_generic
from engine.alerts.matching import MatchMode, MatchRule, lookup, matches, select_rule
from engine.alerts.model import Alert, AlertSource, Entities, Severity
from engine.alerts.normalize import normalize
from engine.alerts.payload import PayloadInvalid
from engine.alerts.result import AlertRefs, NormalizeResult

__all__ = [
    "Alert",
    "AlertRefs",
    "AlertSource",
    "Entities",
    "MatchMode",
    "MatchRule",
    "NormalizeResult",
    "PayloadInvalid",
    "Severity",
    "lookup",
    "matches",
    "normalize",
    "normalize_alertmanager",
    "normalize_elastic",
    "normalize_generic",
    "select_rule",
]
