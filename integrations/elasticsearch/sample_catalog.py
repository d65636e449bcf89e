"""Who and what the sample data set is about: users, API keys, models and the planted incidents.

Everything here is fixed (ids are derived from names), so playbooks, docs and tests can refer to
the planted API keys and alert ids without seeding first. IP addresses come from private and
documentation ranges only (10.0.0.0/8, 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from enum import StrEnum

LOGS_INDEX = "logs-model-gateway-default"
ALERTS_INDEX = ".alerts-security.alerts-default"

FRAUD_SCORER = "fraud-scorer"
SUPPORT_ASSISTANT = "support-assistant"
CODE_HELPER = "code-helper"
MODELS: tuple[str, ...] = (FRAUD_SCORER, SUPPORT_ASSISTANT, CODE_HELPER)
MODEL_VERSIONS: dict[str, str] = {FRAUD_SCORER: "7", SUPPORT_ASSISTANT: "12", CODE_HELPER: "4"}

_NAMESPACE = uuid.UUID("6f1c2f4e-3f0b-4d8e-9a51-1d1f2c7e0b11")


def api_key_id(owner: str) -> str:
    """The sample API key id of ``owner`` (stable, looks like a gateway key id)."""
    return "ak_" + hashlib.sha256(f"fireline-sample-key:{owner}".encode()).hexdigest()[:20]


def sample_uuid(name: str) -> str:
    """A stable UUID for a sample object called ``name``."""
    return str(uuid.uuid5(_NAMESPACE, name))


@dataclass(frozen=True)
class SampleUser:
    """A caller of the model gateway with its key, usual addresses and habits."""

    name: str
    ips: tuple[str, ...]
    models: tuple[str, ...]
    weight: float
    country: str = "US"

    @property
    def email(self) -> str:
        """The user's e-mail address (a reserved example domain)."""
        return f"{self.name}@example.com"

    @property
    def api_key_id(self) -> str:
        """The user's API key id."""
        return api_key_id(self.name)


def _people() -> tuple[SampleUser, ...]:
    names = [
        "alice.nguyen", "bob.kowalski", "chen.wei", "dana.whitfield", "elif.yilmaz", "farid.haddad",
        "grace.okafor", "hiro.tanaka", "isabel.moreno", "jonas.berg", "kavya.rao", "liam.obrien",
        "maria.santos", "noah.fischer", "olivia.martin", "priya.shah", "quentin.dubois", "rosa.alvarez",
    ]  # fmt: skip
    countries = ["US", "DE", "IN", "GB", "US", "FR"]
    habits = [
        (CODE_HELPER, SUPPORT_ASSISTANT),
        (SUPPORT_ASSISTANT,),
        (CODE_HELPER,),
        (FRAUD_SCORER, CODE_HELPER),
    ]
    return tuple(
        SampleUser(
            name=name,
            ips=(f"10.20.{i + 1}.{17 + i}",)
            if i % 3
            else (f"10.20.{i + 1}.{17 + i}", f"10.21.{i + 1}.{40 + i}"),
            models=habits[i % len(habits)],
            weight=1.0 + (i % 4) * 0.5,
            country=countries[i % len(countries)],
        )
        for i, name in enumerate(names)
    )


PEOPLE: tuple[SampleUser, ...] = _people()
SERVICES: tuple[SampleUser, ...] = (
    SampleUser("svc-risk-engine", ("10.40.1.10", "10.40.1.11"), (FRAUD_SCORER,), 6.0),
    SampleUser("svc-ci-codereview", ("10.40.2.20",), (CODE_HELPER,), 3.0),
    SampleUser("svc-support-portal", ("10.40.3.30",), (SUPPORT_ASSISTANT,), 5.0),
    SampleUser("partner-ledgerly", ("198.51.100.23",), (FRAUD_SCORER,), 0.6),
    SampleUser("trial-user-4821", ("203.0.113.77",), (SUPPORT_ASSISTANT,), 0.05, country="NL"),
)
USERS: tuple[SampleUser, ...] = PEOPLE + SERVICES
USERS_BY_NAME: dict[str, SampleUser] = {u.name: u for u in USERS}


class SampleIncident(StrEnum):
    """The incidents hidden in the sample data, one per shipped playbook family."""

    PROMPT_INJECTION = "prompt-injection"
    LEAKED_API_KEY = "leaked-api-key"
    MODEL_EXTRACTION = "model-extraction"
    PII_EXPOSURE = "pii-exposure"


@dataclass(frozen=True)
class IncidentSpec:
    """One planted incident and the Elastic Security rule that caught it."""

    incident: SampleIncident
    rule_name: str
    description: str
    severity: str
    risk_score: int
    model: str
    user: str

    @property
    def api_key_id(self) -> str:
        """The API key the incident's traffic used."""
        return api_key_id(self.user)

    @property
    def alert_id(self) -> str:
        """The id (``_id`` and ``kibana.alert.uuid``) of the incident's alert."""
        return sample_uuid(f"alert:{self.incident.value}")


INCIDENTS: dict[SampleIncident, IncidentSpec] = {
    spec.incident: spec
    for spec in (
        IncidentSpec(
            SampleIncident.PROMPT_INJECTION,
            "AI model prompt injection burst",
            "Many requests with a high prompt-injection score from one API key within an hour.",
            "high",
            73,
            SUPPORT_ASSISTANT,
            "trial-user-4821",
        ),
        IncidentSpec(
            SampleIncident.LEAKED_API_KEY,
            "AI model API key used from many new source IPs",
            "An API key is suddenly used from many addresses it was never seen from.",
            "critical",
            99,
            CODE_HELPER,
            "dana.whitfield",
        ),
        IncidentSpec(
            SampleIncident.MODEL_EXTRACTION,
            "AI model extraction: systematic high-volume queries",
            "One API key sends thousands of near-identical scoring requests at a steady rate.",
            "high",
            73,
            FRAUD_SCORER,
            "partner-ledgerly",
        ),
        IncidentSpec(
            SampleIncident.PII_EXPOSURE,
            "AI model response PII exposure",
            "Model responses flagged as containing personal data.",
            "critical",
            99,
            SUPPORT_ASSISTANT,
            "maria.santos",
        ),
    )
}

#: Incident → alert id, known before seeding (the seeded alert documents use these ids).
SAMPLE_ALERT_IDS: dict[SampleIncident, str] = {i: spec.alert_id for i, spec in INCIDENTS.items()}

#: Incident → the API key id its traffic used.
SAMPLE_API_KEYS: dict[SampleIncident, str] = {i: spec.api_key_id for i, spec in INCIDENTS.items()}
