"""Model-gateway request logs in ECS: three days of ordinary traffic and the planted incidents.

Pure functions of a seeded :class:`random.Random` and ``now``: the same inputs give the same
documents. Background traffic never has a prompt-injection score of 0.8 or more, and its few
personal-data flags are spread thin, so the incidents stand out to the queries a responder (or a
playbook) would write.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from integrations.elasticsearch.sample_catalog import (
    CODE_HELPER,
    FRAUD_SCORER,
    INCIDENTS,
    MODEL_VERSIONS,
    SUPPORT_ASSISTANT,
    USERS,
    USERS_BY_NAME,
    SampleIncident,
    SampleUser,
)

#: Injection scores at or above this are "high"; background traffic stays below it.
HIGH_INJECTION_SCORE = 0.8

_PATHS = {FRAUD_SCORER: "/v1/models/fraud-scorer:score", SUPPORT_ASSISTANT: "/v1/chat/completions"}
_TOKENS = {FRAUD_SCORER: ((40, 220), (3, 12)), SUPPORT_ASSISTANT: ((250, 1600), (80, 700))}
_DEFAULT_TOKENS = ((400, 3200), (150, 1600))
_BROWSER_UA = "fireline-sample-sdk/1.4 (python 3.11)"
_PII_TYPES = ("email", "phone_number", "credit_card", "iban", "postal_address")


def iso(at: datetime) -> str:
    """``at`` as an ISO 8601 UTC timestamp with milliseconds."""
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def request_doc(
    rng: random.Random,
    *,
    at: datetime,
    user: SampleUser,
    model: str,
    ip: str,
    status: int = 200,
    injection: float | None = None,
    blocked: bool = False,
    pii: tuple[str, ...] = (),
    user_agent: str = _BROWSER_UA,
    country: str | None = None,
    tokens: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """One gateway request as an ECS document."""
    if tokens is None:
        (p_lo, p_hi), (c_lo, c_hi) = _TOKENS.get(model, _DEFAULT_TOKENS)
        tokens = (rng.randint(p_lo, p_hi), rng.randint(c_lo, c_hi) if status < 400 else 0)
    prompt_tokens, completion_tokens = tokens
    score = injection if injection is not None else min(rng.betavariate(1.3, 20.0), 0.6)
    path = _PATHS.get(model, "/v1/chat/completions")
    pii_doc: dict[str, Any] = {"detected": bool(pii)}
    if pii:
        pii_doc |= {"types": list(pii), "count": rng.randint(len(pii), 4 * len(pii))}
    return {
        # Constant ECS fields (ecs.version, data_stream.*, event.kind, ...) and a free-text message
        # are left out: the local server's indexing cost grows with fields and text, and the seed
        # must stay fast.
        "@timestamp": iso(at),
        "event": {
            "dataset": "model_gateway.requests",
            "outcome": "success" if status < 400 else "failure",
            "duration": (35 + (prompt_tokens + completion_tokens) // 4 + rng.randint(0, 80)) * 1_000_000,
        },
        "user": {"name": user.name, "email": user.email, "api_key": {"id": user.api_key_id}},
        "source": {"ip": ip, "geo": {"country_iso_code": country or user.country}},
        "user_agent": {"original": user_agent},
        "url": {"path": path},
        "http": {"response": {"status_code": status}},
        "ml": {
            "model": {"name": model, "version": MODEL_VERSIONS[model]},
            "prompt_injection": {"score": round(score, 4), "blocked": blocked},
        },
        "llm": {
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
        },
        "pii": pii_doc,
    }


def _status(rng: random.Random) -> int:
    roll = rng.random()
    return 200 if roll < 0.94 else 429 if roll < 0.97 else 400 if roll < 0.99 else 500


def background(rng: random.Random, now: datetime, count: int = 2200) -> list[dict[str, Any]]:
    """Ordinary traffic over the last three days, busier in working hours."""
    weights = [u.weight for u in USERS]
    docs: list[dict[str, Any]] = []
    while len(docs) < count:
        at = now - timedelta(seconds=rng.uniform(60, 72 * 3600))
        if not 7 <= at.hour <= 19 and rng.random() < 0.6:
            continue
        user = rng.choices(USERS, weights)[0]
        model = rng.choice(user.models)
        injection = None
        if model == SUPPORT_ASSISTANT and rng.random() < 0.01:
            injection = rng.uniform(0.5, HIGH_INJECTION_SCORE - 0.05)  # harmless false positives
        pii = (rng.choice(_PII_TYPES),) if model == SUPPORT_ASSISTANT and rng.random() < 0.003 else ()
        docs.append(
            request_doc(
                rng,
                at=at,
                user=user,
                model=model,
                ip=rng.choice(user.ips),
                status=_status(rng),
                injection=injection,
                pii=pii,
            )
        )
    return docs


def prompt_injection(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    """A burst of injection attempts on the support assistant from one key, in the last hour."""
    spec = INCIDENTS[SampleIncident.PROMPT_INJECTION]
    user = USERS_BY_NAME[spec.user]
    docs = []
    for _ in range(90):
        blocked = rng.random() < 0.4
        docs.append(
            request_doc(
                rng,
                at=now - timedelta(seconds=rng.uniform(120, 55 * 60)),
                user=user,
                model=spec.model,
                ip=user.ips[0],
                status=403 if blocked else 200,
                injection=rng.uniform(0.82, 0.995),
                blocked=blocked,
                user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
            )
        )
    return docs


def _new_ips(rng: random.Random, count: int) -> list[str]:
    pool = [f"{net}.{host}" for net in ("192.0.2", "198.51.100", "203.0.113") for host in range(100, 250)]
    return rng.sample(pool, count)


def leaked_api_key(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    """A developer's key, used from dozens of never-seen addresses in the last three hours."""
    spec = INCIDENTS[SampleIncident.LEAKED_API_KEY]
    user = USERS_BY_NAME[spec.user]
    ips = _new_ips(rng, 45)
    countries = ("BR", "VN", "RO", "ID", "UA", "ZA", "AR", "SG")
    agents = ("python-requests/2.31.0", "curl/8.4.0", "Go-http-client/1.1")
    docs = []
    for i in range(180):
        ip = ips[i % len(ips)]  # every new address appears
        docs.append(
            request_doc(
                rng,
                at=now - timedelta(seconds=rng.uniform(90, 3 * 3600)),
                user=user,
                model=CODE_HELPER if rng.random() < 0.7 else SUPPORT_ASSISTANT,
                ip=ip,
                user_agent=rng.choice(agents),
                country=countries[ips.index(ip) % len(countries)],
            )
        )
    return docs


def model_extraction(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    """Thousands of small, evenly spaced scoring calls from one partner key in the last six hours."""
    spec = INCIDENTS[SampleIncident.MODEL_EXTRACTION]
    user = USERS_BY_NAME[spec.user]
    start = now - timedelta(hours=6)
    docs = []
    for i in range(2000):
        at = start + timedelta(seconds=i * 10.8 + rng.uniform(0, 0.8))
        status = 429 if rng.random() < 0.05 else 200
        docs.append(
            request_doc(
                rng,
                at=at,
                user=user,
                model=spec.model,
                ip=user.ips[0],
                status=status,
                user_agent="ledgerly-batch/2.3",
                tokens=(rng.randint(48, 52), 4 if status == 200 else 0),
            )
        )
    return docs


def pii_exposure(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    """Support-assistant answers that carried other customers' personal data, in the last four hours."""
    spec = INCIDENTS[SampleIncident.PII_EXPOSURE]
    user = USERS_BY_NAME[spec.user]
    return [
        request_doc(
            rng,
            at=now - timedelta(seconds=rng.uniform(300, 4 * 3600)),
            user=user,
            model=spec.model,
            ip=user.ips[0],
            pii=tuple(rng.sample(_PII_TYPES, rng.randint(1, 3))),
        )
        for _ in range(36)
    ]


def incident_traffic(rng: random.Random, now: datetime) -> dict[SampleIncident, list[dict[str, Any]]]:
    """The planted incidents' documents, by incident."""
    return {
        SampleIncident.PROMPT_INJECTION: prompt_injection(rng, now),
        SampleIncident.LEAKED_API_KEY: leaked_api_key(rng, now),
        SampleIncident.MODEL_EXTRACTION: model_extraction(rng, now),
        SampleIncident.PII_EXPOSURE: pii_exposure(rng, now),
    }
