"""One entry point that picks the normalizer for a source."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from engine.alerts.alertmanager import normalize_alertmanager
from engine.alerts.elastic import normalize_elastic
from engine.alerts.generic import normalize_generic
from engine.alerts.model import AlertSource
from engine.alerts.payload import PayloadInvalid
from engine.alerts.result import NormalizeResult

Normalizer = Callable[..., NormalizeResult]

NORMALIZERS: dict[AlertSource, Normalizer] = {
    AlertSource.ELASTIC: normalize_elastic,
    AlertSource.ALERTMANAGER: normalize_alertmanager,
    AlertSource.GENERIC: normalize_generic,
}
"""The sources an HTTP receiver accepts, each with its normalizer."""


def normalize(source: AlertSource | str, payload: object, *, received_at: datetime) -> NormalizeResult:
    """Normalize ``payload`` from ``source`` (``"elastic"``, ``"alertmanager"`` or ``"generic"``).

    Raises:
        PayloadInvalid: for an unknown source, or whatever the source's normalizer rejects.
    """
    try:
        kind = AlertSource(source)
    except ValueError:
        kind = None
    normalizer = NORMALIZERS.get(kind) if kind else None
    if normalizer is None:
        known = ", ".join(sorted(s.value for s in NORMALIZERS))
        raise PayloadInvalid("source", f"{str(source)[:40]!r} is not an alert source ({known})")
    return normalizer(payload, received_at=received_at)
