"""Pull hosts, users, IPs, API keys and model names out of a source document.

Values are read from ECS fields (and a few common label names), deduplicated in first-seen
order and bounded: at most :data:`MAX_PER_KIND` per kind, each at most :data:`MAX_CHARS`
characters (longer values are dropped, not clipped, since a clipped host name names another
host). IPs are validated and written in canonical form.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from engine.alerts.model import Entities
from engine.alerts.paths import lookup

MAX_PER_KIND = 100
MAX_CHARS = 512

HOST_PATHS: tuple[str, ...] = (
    "host.name",
    "host.hostname",
    "related.hosts",
    "labels.host",
    "labels.hostname",
    "labels.node",
    "labels.nodename",
    "hostname",
    "host",
)
"""Plain host names. ``labels.instance`` (``host:port`` or a URL) is read separately."""

USER_PATHS: tuple[str, ...] = (
    "user.name",
    "user.email",
    "related.user",
    "labels.user",
    "labels.username",
    "username",
    "user",
)
IP_PATHS: tuple[str, ...] = (
    "source.ip",
    "destination.ip",
    "client.ip",
    "server.ip",
    "host.ip",
    "related.ip",
    "labels.ip",
    "ip",
    "src_ip",
    "dst_ip",
)
API_KEY_PATHS: tuple[str, ...] = (
    "user.api_key.id",
    "api_key.id",
    "labels.api_key",
    "labels.api_key_id",
    "api_key_id",
)
MODEL_PATHS: tuple[str, ...] = (
    "ml.model.name",
    "model.name",
    "gen_ai.request.model",
    "labels.model",
    "labels.model_name",
    "model",
)
INSTANCE_PATH = "labels.instance"


class _Bucket:
    """An ordered, deduplicated, bounded list of entity values."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._seen: set[str] = set()

    def add(self, value: str) -> None:
        if len(self.items) < MAX_PER_KIND and value not in self._seen:
            self._seen.add(value)
            self.items.append(value)

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_PER_KIND


def _scalars(doc: Mapping[str, Any], path: str) -> Iterator[str]:
    """Text values at ``path``: one string, or the strings of an array (ECS allows both)."""
    found, value = lookup(doc, path)
    if not found:
        return
    items: Sequence[Any] = value if isinstance(value, list) else (value,)
    for item in items:
        if isinstance(item, str):
            stripped = item.strip()
            if stripped and len(stripped) <= MAX_CHARS:
                yield stripped


def canonical_ip(value: str) -> str | None:
    """``value`` as a canonical IP address string, or ``None`` when it is not one."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def split_instance(value: str) -> str | None:
    """The host part of a Prometheus ``instance`` label: ``host:9100``, ``[::1]:9100`` or a URL."""
    if "://" in value:
        try:
            return urlsplit(value).hostname or None
        except ValueError:
            return None
    if value.startswith("["):
        end = value.find("]")
        return (value[1:end] or None) if end > 0 else None
    if value.count(":") == 1:
        return value.split(":", 1)[0] or None
    return value  # a bare name, or a bare IPv6 address


def _fill(bucket: _Bucket, doc: Mapping[str, Any], paths: Sequence[str]) -> None:
    for path in paths:
        for value in _scalars(doc, path):
            if bucket.full:
                return
            bucket.add(value)


def extract_entities(doc: Mapping[str, Any]) -> Entities:
    """The entities named in ``doc``, read from the ``*_PATHS`` fields of this module.

    Args:
        doc: an ECS document (Elastic), an Alertmanager alert (``labels.*``) or any object.
    """
    hosts, users, ips, keys, models = _Bucket(), _Bucket(), _Bucket(), _Bucket(), _Bucket()
    _fill(hosts, doc, HOST_PATHS)
    for raw in _scalars(doc, INSTANCE_PATH):
        host = split_instance(raw)
        if host:
            hosts.add(host)
            ip = canonical_ip(host)
            if ip:
                ips.add(ip)
    _fill(users, doc, USER_PATHS)
    for path in IP_PATHS:
        for raw in _scalars(doc, path):
            if ips.full:
                break
            ip = canonical_ip(raw)
            if ip:
                ips.add(ip)
    _fill(keys, doc, API_KEY_PATHS)
    _fill(models, doc, MODEL_PATHS)
    return Entities(
        hosts=hosts.items, users=users.items, ips=ips.items, api_keys=keys.items, models=models.items
    )
