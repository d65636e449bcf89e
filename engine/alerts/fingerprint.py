"""Stable fingerprints: one id per underlying problem, the default dedup key.

A fingerprint is 64 hex characters of SHA-256 over a canonical JSON list, so it never depends
on key order, timestamps or alert ids. Two forms exist:

- *provided*: the source already names the problem (Alertmanager's ``fingerprint``, Kibana's
  ``kibana.alert.instance.id``); it is hashed together with the source (and, for Kibana, the
  rule) so ids from different sources or rules can never collide.
- *derived*: source + rule + the key entities, each kind sorted. Key entities are models,
  API keys, users and hosts; IPs count only when none of those is known, because one incident
  (a leaked key used from a botnet) often arrives from many addresses.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from engine.alerts.model import AlertSource, Entities

_VERSION = "fp1"  # bump if the recipe changes, so old and new fingerprints never compare equal


def _digest(parts: list[object]) -> str:
    canonical = json.dumps(parts, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def provided_fingerprint(source: AlertSource, provided: str, *, scope: str = "") -> str:
    """Fingerprint from an id the source gives for the problem, namespaced by source and scope."""
    return _digest([_VERSION, "provided", source.value, scope, provided])


def key_entities(entities: Entities) -> dict[str, list[str]]:
    """The entities that identify an incident, each kind sorted (see the module docstring)."""
    keys = {
        "models": sorted(entities.models),
        "api_keys": sorted(entities.api_keys),
        "users": sorted(entities.users),
        "hosts": sorted(entities.hosts),
    }
    if not any(keys.values()):
        keys["ips"] = sorted(entities.ips)
    return keys


def derived_fingerprint(source: AlertSource, rule: str, entities: Entities) -> str:
    """Fingerprint from the source, the rule and the key entities."""
    return _digest([_VERSION, "derived", source.value, rule, key_entities(entities)])


def content_id(doc: dict[str, Any], *, ignore: Iterable[str] = ()) -> str:
    """A hash of a document's content, leaving out the top-level keys in ``ignore``.

    Used when a document names neither an id nor anything that identifies its problem; leaving
    out ids and timestamps makes a re-sent copy of the same document hash the same.
    """
    skip = set(ignore)
    kept = {key: value for key, value in doc.items() if key not in skip}
    canonical = json.dumps(kept, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()
