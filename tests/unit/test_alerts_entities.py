"""Entities pulled out of alerts: what responders act on, and what fingerprints are made of."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.alerts import Entities, normalize_generic
from engine.alerts.entities import MAX_CHARS, MAX_PER_KIND, extract_entities, split_instance
from engine.alerts.fingerprint import derived_fingerprint, key_entities
from engine.alerts.model import AlertSource

RECEIVED = datetime(2026, 11, 20, 8, 14, 5, tzinfo=UTC)


def test_ecs_fields_in_nested_and_flat_form() -> None:
    found = extract_entities(
        {
            "host.name": "gw-1",
            "host": {"hostname": "gw-1.prod"},
            "user": {"name": "bob", "email": "bob@example.com", "api_key": {"id": "k1"}},
            "api_key.id": "k2",
            "client": {"ip": "192.0.2.1"},
            "destination.ip": "192.0.2.2",
            "model": {"name": "m2"},
            "ml.model.name": "m1",
            "labels": {"model": "m3", "instance": "gw-9:8080"},
        }
    )
    assert found == Entities(
        hosts=["gw-1", "gw-1.prod", "gw-9"],
        users=["bob", "bob@example.com"],
        ips=["192.0.2.2", "192.0.2.1"],
        api_keys=["k1", "k2"],
        models=["m1", "m2", "m3"],
    )


def test_values_are_deduplicated_in_first_seen_order() -> None:
    found = extract_entities(
        {
            "host": {"name": "b"},
            "related": {"hosts": ["a", "b", "a", "c"], "ip": ["10.0.0.1", "10.0.0.01", "::ffff:0:1"]},
            "source.ip": "10.0.0.1",
        }
    )
    assert found.hosts == ["b", "a", "c"]
    assert found.ips == ["10.0.0.1", "::ffff:0:1"]


def test_ips_are_validated_and_canonical() -> None:
    found = extract_entities(
        {
            "source": {"ip": "2001:0DB8:0000:0000:0000:0000:0000:0001"},
            "client.ip": "not-an-ip",
            "ip": "999.1.1.1",
        }
    )
    assert found.ips == ["2001:db8::1"]


def test_bounded_per_kind_and_per_value() -> None:
    hosts = [f"host-{i}" for i in range(MAX_PER_KIND + 50)]
    found = extract_entities({"related.hosts": hosts, "user.name": "x" * (MAX_CHARS + 1), "model": " m "})
    assert found.hosts == hosts[:MAX_PER_KIND]
    assert found.users == []  # too long to be a real name: dropped, not clipped
    assert found.models == ["m"]


def test_wrong_types_are_ignored() -> None:
    found = extract_entities(
        {"host": {"name": 7}, "user": ["a", {"b": 1}], "source.ip": [None, True], "model": {}}
    )
    assert found == Entities(users=["a"])


@pytest.mark.parametrize(
    ("instance", "host"),
    [
        ("node-1:9100", "node-1"),
        ("10.1.2.3:9100", "10.1.2.3"),
        ("[2001:db8::1]:9100", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("https://api.example.com:443/health", "api.example.com"),
        ("plain-host", "plain-host"),
        ("[]:1", None),
        (":9100", None),
    ],
)
def test_prometheus_instance_label(instance: str, host: str | None) -> None:
    assert split_instance(instance) == host


def test_fingerprint_uses_sorted_key_entities_and_ignores_ips_when_others_exist() -> None:
    a = Entities(models=["m1", "m2"], hosts=["h"], ips=["10.0.0.1"])
    b = Entities(models=["m2", "m1"], hosts=["h"], ips=["10.0.0.2"])
    assert derived_fingerprint(AlertSource.GENERIC, "r", a) == derived_fingerprint(
        AlertSource.GENERIC, "r", b
    )
    assert derived_fingerprint(AlertSource.GENERIC, "r", a) != derived_fingerprint(
        AlertSource.ELASTIC, "r", a
    )
    assert derived_fingerprint(AlertSource.GENERIC, "r", a) != derived_fingerprint(
        AlertSource.GENERIC, "q", a
    )
    only_ips = Entities(ips=["10.0.0.2", "10.0.0.1"])
    assert key_entities(only_ips)["ips"] == ["10.0.0.1", "10.0.0.2"]
    assert derived_fingerprint(AlertSource.GENERIC, "r", only_ips) != derived_fingerprint(
        AlertSource.GENERIC, "r", Entities(ips=["10.0.0.3"])
    )


def test_fingerprints_are_stable_across_runs() -> None:
    # A fixed value: dedup keys outlive processes and releases, so the recipe must not drift.
    alert = normalize_generic({"rule": "r", "model": "m"}, received_at=RECEIVED).alerts[0]
    assert alert.fingerprint == derived_fingerprint(AlertSource.GENERIC, "r", Entities(models=["m"]))
    assert alert.fingerprint == "4f87702b0f0a80bcc66c315de9cfdf09becab736b4e95a10e465c183bb4f6194"
