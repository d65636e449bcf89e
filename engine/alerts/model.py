"""The normalized alert every source is turned into (see the playbook format)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AlertSource(StrEnum):
    """Where an alert came from."""

    ELASTIC = "elastic"
    ALERTMANAGER = "alertmanager"
    GENERIC = "generic"
    SCHEDULE = "schedule"
    MANUAL = "manual"


class Severity(StrEnum):
    """Normalized severity, lowest first."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Entities(BaseModel):
    """Things the alert is about, pulled out of the source document."""

    model_config = ConfigDict(extra="forbid")

    hosts: list[str] = Field(default_factory=list)
    users: list[str] = Field(default_factory=list)
    ips: list[str] = Field(default_factory=list)
    api_keys: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)


class Alert(BaseModel):
    """One alert in fireline's shape; ``fields`` holds the original document untouched."""

    model_config = ConfigDict(extra="forbid")

    id: str
    source: AlertSource
    rule: str = ""
    title: str = ""
    severity: Severity = Severity.MEDIUM
    fingerprint: str
    occurred_at: datetime
    received_at: datetime
    entities: Entities = Field(default_factory=Entities)
    fields: dict[str, Any] = Field(default_factory=dict)

    def template_view(self) -> dict[str, Any]:
        """The alert as template data (JSON types only)."""
        return self.model_dump(mode="json")
