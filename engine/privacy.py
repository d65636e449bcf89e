"""Pseudonymize personal data in alerts before it enters a run, its audit trail or chat."""

from __future__ import annotations

import copy
import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from typing import Any

from engine.errors import ConfigError

PREFIX = "pii:"


def pseudonym(value: Any, key: bytes) -> str:
    """A stable keyed hash: one person, one pseudonym; irreversible without the key."""
    digest = hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()[:20]
    return f"{PREFIX}{digest}"


class Pseudonymizer:
    """The configured personal-data paths and the key that hashes them."""

    def __init__(self, paths: Iterable[str], key: bytes) -> None:
        self.paths = list(paths)
        self.key = key

    def scrub(
        self, alert: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The alert with personal fields replaced, and the inputs with any of those values replaced.

        Paths match nested keys and Kibana's flat dotted keys alike (``user.email`` finds both,
        under ``fields`` or at the top). Inputs are scrubbed by value, since their defaults copy
        alert fields.
        """
        found: dict[str, str] = {}
        out = copy.deepcopy(dict(alert))
        self._walk(out, "", found)
        # The same values often recur elsewhere (title, entities, reason text): replace them there too.
        out = _replace_values(out, found)
        return out, _replace_values(copy.deepcopy(dict(inputs)), found)

    def _walk(self, node: Any, prefix: str, found: dict[str, str]) -> None:
        if isinstance(node, dict):
            for name in list(node):
                dotted = f"{prefix}.{name}" if prefix else str(name)
                if any(dotted == p or dotted.endswith("." + p) for p in self.paths):
                    node[name] = self._hide(node[name], found)
                else:
                    self._walk(node[name], dotted, found)
        elif isinstance(node, list):
            for item in node:
                self._walk(item, prefix, found)

    def _hide(self, value: Any, found: dict[str, str]) -> Any:
        if isinstance(value, list):
            return [self._hide(v, found) for v in value]
        if value is None or isinstance(value, dict | bool):
            return value
        alias = pseudonym(value, self.key)
        found[str(value)] = alias
        return alias

    @classmethod
    def from_config(
        cls, paths: list[str], key_env: str, environ: Mapping[str, str] | None = None
    ) -> Pseudonymizer | None:
        """None when no personal fields are configured; a missing key is a configuration error."""
        if not paths:
            return None
        env = os.environ if environ is None else environ
        key = env.get(key_env, "")
        if not key:
            raise ConfigError(f"personal_fields are configured but ${key_env} (the pseudonym key) is not set")
        return cls(paths, key.encode())


def _replace_values(node: Any, found: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        for original, alias in found.items():
            if original and original in node:
                node = node.replace(original, alias)
        return node
    if isinstance(node, dict):
        return {k: _replace_values(v, found) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace_values(v, found) for v in node]
    return node
