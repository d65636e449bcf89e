"""Quarantine, restore and roll back model versions, each as check-before-act convergence.

Every change first writes down what it is about to do (tags on the version or the model, carrying
the step's idempotency key), then does it. A retried attempt reads that record and finishes the
same change instead of starting a new one, so a quarantine retried after its alias moved never
quarantines the fallback version, and a rollback retried never rolls back twice.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from engine.sdk import ActionError
from integrations.mlflow.client import QUARANTINED, ModelState, RegistryClient, VersionInfo
from integrations.mlflow.models import (
    QuarantineOutcome,
    QuarantineParams,
    QuarantineResult,
    RestoreOutcome,
    RestoreParams,
    RestoreResult,
    RollbackBasis,
    RollbackParams,
    RollbackResult,
)

PREFIX = "fireline.quarantine."
REASON = PREFIX + "reason"
RUN = PREFIX + "run"
PREVIOUS_ALIAS = PREFIX + "previous_alias"
FALLBACK = PREFIX + "fallback_version"
KEY = PREFIX + "key"
AT = PREFIX + "at"
ROLLBACK_PREFIX = "fireline.rollback."


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _aliases_of(info: VersionInfo) -> list[str]:
    return [a for a in info.tags.get(PREVIOUS_ALIAS, "").split(",") if a]


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _version(state: ModelState, version: int) -> VersionInfo:
    try:
        return state.versions[version]
    except KeyError:
        raise ActionError(
            f"model {state.name!r} has no version {version}", type="VersionNotFound", retryable=False
        ) from None


def last_good(
    state: ModelState, reference: int | None, exclude: set[int]
) -> tuple[int, RollbackBasis] | None:
    """The version to serve instead: the highest verified one, else the highest before ``reference``.

    Quarantined versions, versions not ``READY`` and ``exclude`` are never chosen.
    """
    usable = [
        v.version
        for v in state.versions.values()
        if not v.quarantined and v.status == "READY" and v.version not in exclude
    ]
    verified = [n for n in usable if state.versions[n].verified]
    if verified:
        return max(verified), RollbackBasis.VERIFIED
    earlier = [n for n in usable if reference is None or n < reference]
    return (max(earlier), RollbackBasis.PREVIOUS) if earlier else None


# --- quarantine -------------------------------------------------------------------------------


def _target(state: ModelState, params: QuarantineParams, key: str) -> int:
    if params.version is not None:
        return _version(state, params.version).version
    # A retry of this step: the alias may already have moved to the fallback, so follow the record.
    mine = [v.version for v in state.versions.values() if v.tags.get(KEY) == key]
    if mine:
        return max(mine)
    if params.alias in state.aliases:
        return state.aliases[params.alias]
    held = [v.version for v in state.versions.values() if v.quarantined and params.alias in _aliases_of(v)]
    if held:
        return max(held)
    raise ActionError(
        f"model {state.name!r} has no alias {params.alias!r} and no version was given",
        type="AliasNotFound",
        retryable=False,
    )


def quarantine(
    client: RegistryClient, state: ModelState, params: QuarantineParams, *, run_id: str, key: str
) -> QuarantineResult:
    """Move ``params.alias`` off the version and tag it quarantined, remembering what was there."""
    target = _target(state, params, key)
    info = state.versions[target]
    alias_on = state.aliases.get(params.alias) == target
    resuming = info.tags.get(KEY) == key
    if info.quarantined and not alias_on:
        return _quarantine_result(state, info, params, QuarantineOutcome.ALREADY_QUARANTINED)
    changed = False
    tags: dict[str, str] = {}
    if not info.quarantined and not resuming:
        fallback = _fallback(state, target) if params.fallback else None
        tags = {
            KEY: key,
            RUN: run_id,
            REASON: params.reason,
            PREVIOUS_ALIAS: params.alias if alias_on else "",
            FALLBACK: str(fallback or ""),
            AT: _now(),
        }
    else:
        # Finishing our own earlier attempt, or quarantining again a version someone re-promoted.
        stored = _int_or_none(info.tags.get(FALLBACK))
        fallback = stored if resuming else (_fallback(state, target) if params.fallback else None)
        if alias_on and params.alias not in _aliases_of(info):
            tags[PREVIOUS_ALIAS] = ",".join([*_aliases_of(info), params.alias])
        if alias_on and not resuming:
            tags[FALLBACK] = str(fallback or "")
    for tag, value in tags.items():
        client.set_version_tag(state.name, target, tag, value)
        changed = True
    if alias_on:
        if fallback is not None:
            client.set_alias(state.name, params.alias, fallback)
        else:
            client.delete_alias(state.name, params.alias)
        changed = True
    if not info.quarantined:
        # Written last: a version tagged quarantined has its alias off it already.
        client.set_version_tag(state.name, target, QUARANTINED, "true")
        changed = True
    merged = VersionInfo(target, info.status, info.source, info.run_id, {**info.tags, **tags})
    aliases = {**state.aliases}
    if alias_on:
        aliases.pop(params.alias)
        if fallback is not None:
            aliases[params.alias] = fallback
    after = ModelState(state.name, aliases, state.tags, {**state.versions, target: merged})
    outcome = QuarantineOutcome.RESUMED if resuming else QuarantineOutcome.QUARANTINED
    return _quarantine_result(after, merged, params, outcome, changed=changed)


def _fallback(state: ModelState, target: int) -> int | None:
    found = last_good(state, target, {target})
    return found[0] if found else None


def _quarantine_result(
    state: ModelState,
    info: VersionInfo,
    params: QuarantineParams,
    outcome: QuarantineOutcome,
    *,
    changed: bool = False,
) -> QuarantineResult:
    return QuarantineResult(
        name=state.name,
        version=info.version,
        alias=params.alias,
        outcome=outcome,
        changed=changed,
        previous_aliases=_aliases_of(info),
        alias_version=state.aliases.get(params.alias),
        fallback_version=_int_or_none(info.tags.get(FALLBACK)),
        reason=info.tags.get(REASON, ""),
        quarantined_by_run=info.tags.get(RUN, ""),
    )


# --- restore ----------------------------------------------------------------------------------


def restore(client: RegistryClient, state: ModelState, params: RestoreParams) -> RestoreResult:
    """Undo a quarantine: the aliases go back to the version and fireline's tags are removed."""
    info = _version(state, params.version)
    marks = [t for t in info.tags if t.startswith(PREFIX)]
    if not marks and not info.quarantined:
        return RestoreResult(
            name=state.name, version=info.version, outcome=RestoreOutcome.NOT_QUARANTINED, changed=False
        )
    fallback = _int_or_none(info.tags.get(FALLBACK))
    aliases = _aliases_of(info)
    # Decide for every alias before touching any, so a refusal leaves nothing half done.
    to_move = []
    for alias in aliases:
        current = state.aliases.get(alias)
        if current == info.version:
            continue
        ours = current is None or current == fallback or _rolled_back_to(state, alias) == current
        if not ours and not params.force:
            raise ActionError(
                f"alias {alias!r} of {state.name!r} now points at version {current}, not where the "
                f"quarantine left it; restore with force: true to take it back",
                type="AliasMoved",
                retryable=False,
            )
        to_move.append(alias)
    for alias in to_move:
        client.set_alias(state.name, alias, info.version)
    for tag in marks:
        client.delete_version_tag(state.name, info.version, tag)
    # Removed last: a retry after a crash still sees the version as quarantined and finishes.
    client.delete_version_tag(state.name, info.version, QUARANTINED)
    return RestoreResult(
        name=state.name, version=info.version, outcome=RestoreOutcome.RESTORED, changed=True, aliases=aliases
    )


# --- rollback ---------------------------------------------------------------------------------


def _rollback_record(state: ModelState, alias: str) -> dict[str, object]:
    try:
        record = json.loads(state.tags.get(ROLLBACK_PREFIX + alias, "{}"))
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _rolled_back_to(state: ModelState, alias: str) -> int | None:
    to = _rollback_record(state, alias).get("to")
    return to if isinstance(to, int) else None


def rollback(
    client: RegistryClient, state: ModelState, params: RollbackParams, *, run_id: str, key: str
) -> RollbackResult:
    """Point ``params.alias`` at the last good version (or ``params.to_version``)."""
    record = _rollback_record(state, params.alias)
    if record.get("key") == key and isinstance(record.get("to"), int):
        # A retry of this step: finish (or confirm) the change decided by the first attempt.
        to = int(str(record["to"]))
        changed = state.aliases.get(params.alias) != to
        if changed:
            client.set_alias(state.name, params.alias, to)
        from_version = record.get("from")
        return RollbackResult(
            name=state.name,
            alias=params.alias,
            changed=changed,
            from_version=from_version if isinstance(from_version, int) else None,
            to_version=to,
            basis=RollbackBasis(str(record.get("basis", RollbackBasis.PREVIOUS))),
        )
    current = state.aliases.get(params.alias)
    if params.to_version is not None:
        chosen = _version(state, params.to_version)
        if chosen.quarantined:
            raise ActionError(
                f"version {chosen.version} of {state.name!r} is quarantined; restore it first",
                type="VersionQuarantined",
                retryable=False,
            )
        to, basis = chosen.version, RollbackBasis.EXPLICIT
    else:
        # An alias already on the highest verified version stays there: quarantine it first if it is bad.
        found = last_good(state, _reference(state, params.alias, current), set())
        if found is None:
            raise ActionError(
                f"model {state.name!r} has no good version to roll {params.alias!r} back to "
                "(every earlier version is quarantined or not ready)",
                type="NoGoodVersion",
                retryable=False,
            )
        to, basis = found
    result = RollbackResult(
        name=state.name,
        alias=params.alias,
        changed=current != to,
        from_version=current,
        to_version=to,
        basis=basis,
    )
    if current == to:
        return result
    intent = {"key": key, "run": run_id, "from": current, "to": to, "basis": basis.value, "at": _now()}
    client.set_model_tag(state.name, ROLLBACK_PREFIX + params.alias, json.dumps(intent, sort_keys=True))
    client.set_alias(state.name, params.alias, to)
    return result


def _reference(state: ModelState, alias: str, current: int | None) -> int | None:
    """The version a rollback goes back from: the alias's, else the last one quarantined off it."""
    if current is not None:
        return current
    held = [v.version for v in state.versions.values() if alias in _aliases_of(v)]
    return max(held) if held else None
