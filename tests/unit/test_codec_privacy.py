"""Payload encryption (with rotation) and pseudonymization, without a server."""

from __future__ import annotations

import base64
import os

import pytest
from temporalio.api.common.v1 import Payload

from engine.codec import AesGcmCodec, CodecError
from engine.errors import ConfigError
from engine.privacy import PREFIX, Pseudonymizer


def key() -> bytes:
    return os.urandom(32)


async def test_roundtrip_hides_content_and_names_the_key() -> None:
    codec = AesGcmCodec({"k1": key()}, "k1")
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"title": "leak of jane@example.com"}')
    [sealed] = await codec.encode([plain])
    assert b"jane@example.com" not in sealed.SerializeToString()
    assert sealed.metadata["encryption-key-id"] == b"k1"
    assert await codec.decode([sealed]) == [plain]


async def test_rotation_keeps_old_payloads_readable() -> None:
    k1, k2 = key(), key()
    old = await AesGcmCodec({"k1": k1}, "k1").encode([Payload(data=b"old run")])
    rotated = AesGcmCodec({"k1": k1, "k2": k2}, "k2")
    new = await rotated.encode([Payload(data=b"new run")])
    assert new[0].metadata["encryption-key-id"] == b"k2"
    assert [p.data for p in await rotated.decode(old + new)] == [b"old run", b"new run"]
    with pytest.raises(CodecError, match="unknown key 'k1'"):
        await AesGcmCodec({"k2": k2}, "k2").decode(old)


async def test_tampering_is_detected_and_plain_payloads_pass_through() -> None:
    codec = AesGcmCodec({"k1": key()}, "k1")
    [sealed] = await codec.encode([Payload(data=b"x" * 40)])
    sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(CodecError, match="failed authentication"):
        await codec.decode([sealed])
    legacy = Payload(metadata={"encoding": b"json/plain"}, data=b"1")
    assert await codec.decode([legacy]) == [legacy]


def test_bad_key_configuration_is_refused() -> None:
    with pytest.raises(ConfigError, match="32 bytes"):
        AesGcmCodec({"k1": b"short"}, "k1")
    with pytest.raises(ConfigError, match="not among"):
        AesGcmCodec({"k1": key()}, "k9")


def test_pseudonymizer_replaces_fields_entities_and_copies_in_inputs() -> None:
    alert = {
        "title": "Prompt injection by jane@example.com",
        "entities": {"users": ["jane@example.com"], "models": ["support-assistant"]},
        "fields": {"user": {"email": "jane@example.com", "name": "jane"}, "kibana.alert.rule.name": "r"},
    }
    flat = {"fields": {"user.email": "bob@example.com"}, "entities": {}}
    p = Pseudonymizer(["user.email"], b"k" * 32)
    scrubbed, inputs = p.scrub(alert, {"who": "jane@example.com", "n": 3})
    text = str(scrubbed) + str(inputs)
    assert "jane@example.com" not in text
    alias = scrubbed["fields"]["user"]["email"]
    assert alias.startswith(PREFIX) and scrubbed["entities"]["users"] == [alias] and inputs["who"] == alias
    assert scrubbed["fields"]["user"]["name"] == "jane" and inputs["n"] == 3
    assert p.scrub(flat, {})[0]["fields"]["user.email"].startswith(PREFIX)
    assert alias == p.scrub(alert, {})[0]["fields"]["user"]["email"]  # stable: joins still work
    assert alias != Pseudonymizer(["user.email"], b"j" * 32).scrub(alert, {})[0]["fields"]["user"]["email"]


def test_pseudonymizer_needs_its_key() -> None:
    assert Pseudonymizer.from_config([], "K", {}) is None
    with pytest.raises(ConfigError, match=r"\$K"):
        Pseudonymizer.from_config(["user.email"], "K", {})
    assert Pseudonymizer.from_config(["user.email"], "K", {"K": base64.b64encode(b"x").decode()}) is not None
