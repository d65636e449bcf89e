"""EU AI Act Art. 73: which serious-incident reporting clock applies, and when it runs out.

Regulation (EU) 2024/1689, Art. 73. The clock starts when the provider (or deployer) becomes
aware of the serious incident, i.e. has established a causal link between the AI system and the
incident or its reasonable likelihood, never when fireline's run starts:

* 73(2): report immediately, and not later than 15 days after becoming aware;
* 73(3): a widespread infringement, or a serious incident under Art. 3(49)(b) (serious and
  irreversible disruption of critical infrastructure): not later than 2 days;
* 73(4): the death of a person: not later than 10 days;
* 73(5): an initial, incomplete report may be sent to keep the clock, followed by a complete one.

When several paragraphs apply, the shortest clock wins: each is a "notwithstanding" exception to
73(2), so the stricter one always binds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from engine.errors import FirelineError


class AiActFactError(FirelineError):
    """The incident facts name a harm the AI Act does not know, or a bad awareness time."""


class Harm(StrEnum):
    """The harms that make an incident serious (Art. 3(49)) plus a widespread infringement (Art. 3(61))."""

    DEATH = "death"  # 3(49)(a), first half
    HEALTH = "health"  # 3(49)(a): serious harm to a person's health
    CRITICAL_INFRASTRUCTURE = "critical_infrastructure"  # 3(49)(b)
    FUNDAMENTAL_RIGHTS = "fundamental_rights"  # 3(49)(c)
    PROPERTY_OR_ENVIRONMENT = "property_or_environment"  # 3(49)(d)
    WIDESPREAD_INFRINGEMENT = "widespread_infringement"  # 3(61), reported under 73(3)


class Regime(StrEnum):
    """The paragraph of Art. 73 whose clock applies."""

    GENERAL = "art73(2)"
    WIDESPREAD_OR_CRITICAL = "art73(3)"
    DEATH = "art73(4)"


#: Days from awareness to the latest initial report, by regime.
DAYS: dict[Regime, int] = {Regime.GENERAL: 15, Regime.DEATH: 10, Regime.WIDESPREAD_OR_CRITICAL: 2}
_BASIS: dict[Regime, str] = {
    Regime.GENERAL: "Art. 73(2): serious incident, not later than 15 days after awareness",
    Regime.DEATH: "Art. 73(4): death of a person, not later than 10 days after awareness",
    Regime.WIDESPREAD_OR_CRITICAL: (
        "Art. 73(3): widespread infringement or critical infrastructure disruption (Art. 3(49)(b)), "
        "not later than 2 days after awareness"
    ),
}


class Clock(BaseModel):
    """The reporting clock of one incident."""

    regime: Regime
    days: int
    aware_at: str = Field(description="ISO-8601 UTC, ending in Z")
    deadline: str = Field(description="Latest initial report, ISO-8601 UTC, ending in Z")
    basis: str
    harms: list[Harm]


def parse_harms(values: Iterable[object]) -> list[Harm]:
    """The harms named by ``values`` (strings), in a stable order; unknown names are an error."""
    found: set[Harm] = set()
    for value in values:
        text = str(value).strip().lower()
        try:
            found.add(Harm(text))
        except ValueError:
            allowed = ", ".join(h.value for h in Harm)
            raise AiActFactError(f"{str(value)[:64]!r} is not an AI Act harm (one of: {allowed})") from None
    return [h for h in Harm if h in found]


def regime_for(harms: Iterable[Harm]) -> Regime:
    """The binding paragraph: the shortest clock among those the harms trigger."""
    chosen = set(harms)
    candidates = [Regime.GENERAL]
    if chosen & {Harm.CRITICAL_INFRASTRUCTURE, Harm.WIDESPREAD_INFRINGEMENT}:
        candidates.append(Regime.WIDESPREAD_OR_CRITICAL)
    if Harm.DEATH in chosen:
        candidates.append(Regime.DEATH)
    return min(candidates, key=lambda regime: DAYS[regime])


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def clock(aware_at: datetime, harms: Iterable[Harm]) -> Clock:
    """The clock for an incident the provider became aware of at ``aware_at``."""
    if aware_at.tzinfo is None:
        aware_at = aware_at.replace(tzinfo=UTC)
    listed = list(harms)
    regime = regime_for(listed)
    try:
        deadline = aware_at + timedelta(days=DAYS[regime])
    except OverflowError:
        raise AiActFactError("the awareness time is out of range") from None
    return Clock(
        regime=regime,
        days=DAYS[regime],
        aware_at=_utc(aware_at),
        deadline=_utc(deadline),
        basis=_BASIS[regime],
        harms=listed,
    )
