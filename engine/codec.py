"""Encrypt every workflow payload with AES-256-GCM, so history holds no plaintext.

Each payload records the id of the key that sealed it, so keys rotate without losing old runs:
new payloads use the active key, old ones open with the key they name.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

from engine.errors import ConfigError, FirelineError

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class CodecError(FirelineError):
    """A payload could not be opened (unknown key id, or tampered)."""


class AesGcmCodec(PayloadCodec):
    """Seals payloads with the active key; opens any payload whose key id it knows."""

    def __init__(self, keys: Mapping[str, bytes], active: str) -> None:
        if active not in keys:
            raise ConfigError(
                f"active codec key {active!r} is not among the configured keys ({', '.join(keys)})"
            )
        for key_id, key in keys.items():
            if len(key) != 32:
                raise ConfigError(f"codec key {key_id!r} must be 32 bytes (AES-256), got {len(key)}")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active = active

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Seal each payload with the active key."""
        cipher = self._ciphers[self.active]
        sealed = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            data = cipher.encrypt(nonce, payload.SerializeToString(), self.active.encode())
            sealed.append(
                Payload(metadata={"encoding": ENCODING, KEY_ID: self.active.encode()}, data=nonce + data)
            )
        return sealed

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Open sealed payloads; pass others (from before encryption was on) through."""
        opened = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                opened.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID, b"").decode()
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise CodecError(f"payload sealed with unknown key {key_id!r}; keep retired keys configured")
            try:
                plain = cipher.decrypt(
                    payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id.encode()
                )
            except Exception as exc:
                raise CodecError(f"payload sealed with key {key_id!r} failed authentication") from exc
            opened.append(Payload.FromString(plain))
        return opened


def load_keys(path: Path) -> dict[str, bytes]:
    """Read ``{"key id": "<base64 32-byte key>", ...}``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"codec keys file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"codec keys file {path}:{exc.lineno}:{exc.colno}: {exc.msg}") from None
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"codec keys file {path}: expected an object of key id → base64 key")
    try:
        return {str(k): base64.b64decode(v, validate=True) for k, v in raw.items()}
    except (ValueError, TypeError):
        raise ConfigError(f"codec keys file {path}: every key must be base64") from None


def new_key() -> str:
    """A fresh base64 AES-256 key for the keys file."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


def data_converter(keys_file: Path | None, active: str | None) -> DataConverter:
    """fireline's converter: pydantic JSON, sealed when a keys file is configured."""
    if keys_file is None:
        return pydantic_data_converter
    keys = load_keys(keys_file)
    return replace(pydantic_data_converter, payload_codec=AesGcmCodec(keys, active or sorted(keys)[-1]))
