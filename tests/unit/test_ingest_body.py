"""Hostile request bodies: every malformed input is a 4xx with a reason, never an exception."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engine.ingest.body import check_content_type, parse_json, read_body
from engine.ingest.errors import RequestRejected


def rejected(raw: bytes) -> RequestRejected:
    with pytest.raises(RequestRejected) as exc:
        parse_json(raw)
    assert exc.value.status == 400
    return exc.value


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"a": NaN}', "NaN"),
        (b'{"a": Infinity}', "Infinity"),
        (b"[-Infinity]", "-Infinity"),
        (b'{"a": 1e999}', "out of range"),
        (b'{"a": ' + b"9" * 5000 + b"}", "too large"),
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"ok": "\xff\xfe"}', "1:9: body is not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{\n  "a": 1,\n  "b": }', "3:8"),
        (b"", "empty"),
        (b"   ", "empty"),
        (b'{"a": 1} trailing', "Extra data"),
    ],
)
def test_malformed_json_is_a_400_with_a_reason(raw: bytes, words: str) -> None:
    assert words in rejected(raw).reason


def test_valid_json_with_a_bom_and_big_but_fine_numbers() -> None:
    assert parse_json(b'\xef\xbb\xbf{"n": 18446744073709551615, "f": 1.5e300, "s": "\\u00e9"}') == {
        "n": 18446744073709551615,
        "f": 1.5e300,
        "s": "é",
    }


@pytest.mark.parametrize(
    "value",
    ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/vnd.x+json"],
)
def test_json_content_types_are_accepted(value: str) -> None:
    check_content_type(value)


@pytest.mark.parametrize(
    "value",
    [None, "", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_other_content_types_are_415(value: str | None) -> None:
    with pytest.raises(RequestRejected) as exc:
        check_content_type(value)
    assert exc.value.status == 415


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_bodies_over_the_limit_are_413_early_or_while_streaming() -> None:
    with pytest.raises(RequestRejected) as exc:
        await read_body(chunks(b"x"), declared_length="2000", limit=1000, timeout_s=1)
    assert exc.value.status == 413
    with pytest.raises(RequestRejected) as exc:
        await read_body(chunks(b"x" * 600, b"x" * 600), declared_length=None, limit=1000, timeout_s=1)
    assert exc.value.status == 413
    with pytest.raises(RequestRejected) as exc:
        await read_body(chunks(b"x"), declared_length="12abc", limit=1000, timeout_s=1)
    assert exc.value.status == 400
    assert await read_body(chunks(b"ab", b"cd"), declared_length="4", limit=1000, timeout_s=1) == b"abcd"


async def test_a_body_that_trickles_in_forever_is_408() -> None:
    async def slow() -> AsyncIterator[bytes]:
        yield b"{"
        import asyncio

        await asyncio.sleep(10)
        yield b"}"

    with pytest.raises(RequestRejected) as exc:
        await read_body(slow(), declared_length=None, limit=1000, timeout_s=0.1)
    assert exc.value.status == 408
