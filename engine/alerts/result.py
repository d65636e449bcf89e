"""What a normalizer returns: alerts to act on, resolved alerts, and references to complete."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from engine.alerts.model import Alert

DEFAULT_ALERT_INDEX = ".alerts-security.alerts-*"
"""Where Kibana security alerts live; used for references that name no index."""


class AlertRefs(BaseModel):
    """Alert documents a payload only pointed at; the caller reads them from Elasticsearch.

    ``index`` has been checked to be a Kibana alerts index (``.alerts-*`` or
    ``.internal.alerts-*``, no commas); it may be a pattern, so complete the references with an
    ``ids`` query on it rather than a multi-get.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: str = DEFAULT_ALERT_INDEX
    ids: list[str] = Field(default_factory=list)


class NormalizeResult(BaseModel):
    """The outcome of normalizing one payload.

    Attributes:
        alerts: alerts that are firing: match triggers and start or join runs with these.
        resolved: alerts the source reports as over (Alertmanager ``resolved``, Kibana
            ``recovered``/``closed``): the receiver may close or annotate open runs, or ignore them.
        refs: references to alerts the payload did not carry; normalize the documents read
            from Elasticsearch with ``normalize_elastic`` to get their alerts.
    """

    model_config = ConfigDict(extra="forbid")

    alerts: list[Alert] = Field(default_factory=list)
    resolved: list[Alert] = Field(default_factory=list)
    refs: list[AlertRefs] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when the payload held nothing at all."""
        return not (self.alerts or self.resolved or self.refs)

    def ref_count(self) -> int:
        """Number of referenced alert ids across all indices."""
        return sum(len(ref.ids) for ref in self.refs)
