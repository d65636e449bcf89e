"""Classification of a run: the playbook's ids plus those an alert adds, checked against the pinned lists."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from engine.classification.pinned import ATLAS, OWASP_LLM, Taxonomy

#: Most ids an alert may add per framework; more are rejected, so a hostile alert stays small.
MAX_ALERT_IDS = 20
_MAX_ID_CHARS = 40


class Framework(StrEnum):
    """The frameworks a run is classified by."""

    ATLAS = "atlas"
    OWASP_LLM = "owasp_llm"

    @property
    def taxonomy(self) -> Taxonomy:
        """The pinned list of this framework."""
        return ATLAS if self is Framework.ATLAS else OWASP_LLM


def closest(framework: Framework, ident: str) -> str:
    """The listed id most like ``ident`` (case and spacing forgiven), or ""."""
    entries = framework.taxonomy.entries
    wanted = ident.strip().upper()
    if wanted in entries:
        return wanted
    found = difflib.get_close_matches(wanted, list(entries), n=1, cutoff=0.6)
    return found[0] if found else ""


def split_known(framework: Framework, values: Iterable[Any]) -> tuple[list[str], list[str]]:
    """``values`` as (listed ids in order without repeats, everything else as text)."""
    known: list[str] = []
    unknown: list[str] = []
    entries = framework.taxonomy.entries
    for value in values:
        text = str(value)[:_MAX_ID_CHARS] if value is not None else ""
        if isinstance(value, str) and value in entries:
            if value not in known:
                known.append(value)
        else:
            unknown.append(text)
    return known, unknown


class Rejected(BaseModel):
    """An id an alert offered that is not on the pinned list (kept, so nothing is lost silently)."""

    framework: Framework | None = None
    value: str
    hint: str = ""


def _listed(value: Any) -> list[Any]:
    # Alertmanager labels and many SIEM fields carry lists as comma-separated text.
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return list(value)
    return [] if value is None else [value]


def _at(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def offered_ids(alert: Mapping[str, Any]) -> list[tuple[Framework | None, Any]]:
    """The ids an alert offers, with the framework its field names (None when any may match).

    Read from the original document under ``fields``: ``classification.atlas`` and
    ``classification.owasp_llm`` (lists or comma-separated), the same as Alertmanager labels
    ``labels.atlas`` / ``labels.owasp_llm``, and ECS ``threat.technique.id``.
    """
    fields = alert.get("fields")
    found: list[tuple[Framework | None, Any]] = []
    for framework in Framework:
        for path in (("classification", framework.value), ("labels", framework.value)):
            found += [(framework, v) for v in _listed(_at(fields, *path))]
    found += [(None, v) for v in _listed(_at(fields, "threat", "technique", "id"))]
    return found


class Classification(BaseModel):
    """The ids a run carries, and what an alert offered that was not accepted."""

    atlas: list[str] = Field(default_factory=list)
    owasp_llm: list[str] = Field(default_factory=list)
    rejected: list[Rejected] = Field(default_factory=list)

    def ids(self, framework: Framework) -> list[str]:
        """The accepted ids of ``framework``."""
        return list(self.atlas if framework is Framework.ATLAS else self.owasp_llm)

    @property
    def empty(self) -> bool:
        """True when the run carries no id and nothing was rejected."""
        return not (self.atlas or self.owasp_llm or self.rejected)

    def for_audit(self) -> dict[str, Any]:
        """Self-describing evidence for the audit trail: ids with names, list versions, rejections."""
        found: dict[str, Any] = {
            f.value: {
                "title": f.taxonomy.title,
                "version": f.taxonomy.version,
                "ids": [{"id": i, "name": f.taxonomy.label(i)} for i in self.ids(f)],
            }
            for f in Framework
        }
        found["rejected"] = [r.model_dump(mode="json") for r in self.rejected]
        return found

    @classmethod
    def for_run(cls, declared: Mapping[str, list[str]], alert: Mapping[str, Any]) -> Classification:
        """The playbook's ids (validated by ``fireline validate``) plus those the alert adds.

        Alert data is attacker-controlled: anything malformed or unlisted is recorded as rejected
        (at most :data:`MAX_ALERT_IDS` per run), never raised.
        """
        accepted: dict[Framework, list[str]] = {
            f: [i for i in declared.get(f.value, []) if i in f.taxonomy.entries] for f in Framework
        }
        rejected: list[Rejected] = []
        offered = offered_ids(alert)
        for named, value in offered[: MAX_ALERT_IDS * 2]:
            text = value.strip() if isinstance(value, str) else ""
            home = next((f for f in Framework if text in f.taxonomy.entries), None)
            if home is not None and named in (None, home):
                if text not in accepted[home]:
                    accepted[home].append(text)
                continue
            shown = str(value)[:_MAX_ID_CHARS]
            hint = closest(named, shown) if named is not None else ""
            if len(rejected) < MAX_ALERT_IDS:
                rejected.append(Rejected(framework=named, value=shown, hint=hint))
        return cls(
            atlas=accepted[Framework.ATLAS], owasp_llm=accepted[Framework.OWASP_LLM], rejected=rejected
        )


def declared_problems(raw: Any) -> list[tuple[tuple[str | int, ...], str, str]]:
    """What is wrong with a playbook's ``metadata.classification`` (path below it, message, hint)."""
    if not isinstance(raw, Mapping):
        return []
    problems: list[tuple[tuple[str | int, ...], str, str]] = []
    for framework in Framework:
        values = raw.get(framework.value)
        if not isinstance(values, list):
            continue
        taxonomy = framework.taxonomy
        for index, value in enumerate(values):
            if isinstance(value, str) and value in taxonomy.entries:
                continue
            shown = str(value)[:_MAX_ID_CHARS]
            near = closest(framework, shown) if isinstance(value, str) else ""
            hint = (
                f"did you mean {near!r} ({taxonomy.label(near)})?"
                if near
                else f"ids are listed in engine/classification/pinned.py, e.g. {next(iter(taxonomy.entries))}"
            )
            problems.append(
                (
                    (framework.value, index),
                    f"{shown!r} is not on the pinned {taxonomy.title} {taxonomy.version} list",
                    hint,
                )
            )
    return problems
