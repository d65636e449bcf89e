"""Reading and decoding request bodies that an attacker wrote.

Every failure is a :class:`RequestRejected` with a status and a reason: 413 (too large),
408 (too slow), 415 (not JSON), 400 (not valid JSON, with line:column when known). Python's
``json`` accepts ``NaN``, ``Infinity`` and ``1e999`` and raises ``RecursionError``,
``UnicodeDecodeError`` or ``ValueError`` besides ``JSONDecodeError``; all of them end up here as 400.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from typing import Any

from engine.ingest.errors import RequestRejected

MAX_INT_DIGITS = 20  # beyond 64 bits no search index agrees on the value
_BOM = b"\xef\xbb\xbf"


class _JsonProblem(ValueError):
    """Raised from the decoder hooks; carries a reason for the sender."""


async def read_body(
    chunks: AsyncIterator[bytes], *, declared_length: str | None, limit: int, timeout_s: float
) -> bytes:
    """The whole body, refused early when it is (or says it is) larger than ``limit``."""
    if declared_length is not None:
        text = declared_length.strip()
        if not text.isascii() or not text.isdigit():
            raise RequestRejected(400, "bad_request", "Content-Length is not a number")
        if int(text) > limit:
            raise RequestRejected(413, "too_large", f"body is larger than {limit} bytes")
    buffer = bytearray()
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in chunks:
                buffer += chunk
                if len(buffer) > limit:
                    raise RequestRejected(413, "too_large", f"body is larger than {limit} bytes")
    except TimeoutError:
        raise RequestRejected(408, "timeout", f"body not received within {timeout_s:g} s") from None
    return bytes(buffer)


def check_content_type(value: str | None) -> None:
    """Accept ``application/json`` and ``application/*+json`` in UTF-8 only (415 otherwise)."""
    if not value:
        raise RequestRejected(415, "unsupported_media_type", "Content-Type must be application/json")
    media, *params = (part.strip() for part in value.split(";"))
    media = media.lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise RequestRejected(
            415, "unsupported_media_type", f"Content-Type {media[:60]!r} is not application/json"
        )
    for param in params:
        key, _, charset = param.partition("=")
        if key.strip().lower() == "charset" and charset.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise RequestRejected(415, "unsupported_media_type", "only the utf-8 charset is accepted")


def _constant(name: str) -> Any:
    raise _JsonProblem(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _JsonProblem(f"number {text[:30]} is out of range")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _JsonProblem(f"integer with {len(text)} digits is too large")
    return int(text)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _JsonProblem(f"duplicate key {key[:60]!r} in an object")
            seen.add(key)
    return obj


def _line_col(raw: bytes, offset: int) -> str:
    line = raw.count(b"\n", 0, offset) + 1
    col = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    return f"{line}:{col}"


def parse_json(raw: bytes) -> Any:
    """Decode a body strictly: UTF-8, finite numbers, 64-bit integers, unique keys, bounded nesting."""
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = _line_col(raw, exc.start)
        raise RequestRejected(400, "invalid_json", f"{where}: body is not valid UTF-8") from None
    if not text.strip():
        raise RequestRejected(400, "invalid_json", "body is empty")
    try:
        return json.loads(
            text, parse_constant=_constant, parse_float=_float, parse_int=_int, object_pairs_hook=_object
        )
    except json.JSONDecodeError as exc:
        raise RequestRejected(400, "invalid_json", f"{exc.lineno}:{exc.colno}: {exc.msg}") from None
    except _JsonProblem as exc:
        raise RequestRejected(400, "invalid_json", str(exc)) from None
    except RecursionError:
        raise RequestRejected(400, "invalid_json", "JSON is nested too deeply") from None
    except (ValueError, OverflowError) as exc:
        # int() limits and the like; the message is ours to clip, not the sender's text.
        raise RequestRejected(400, "invalid_json", f"invalid JSON value: {str(exc)[:80]}") from None
