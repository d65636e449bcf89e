"""Large step outputs held as deflated JSON text, for as long as a run keeps them.

A run keeps every step's output until it ends, because any later template may read it, and a
parked run may wait days for its approval. As Python objects, a 5 KB search result takes about
50 KiB of worker memory; as JSON text, about 5 KiB; deflated, a fraction of that (the repeated keys
of search hits shrink several times). Templates still see the value: the ``steps`` mapping they
read parses a packed output on first access (see :class:`engine.plan.views.StepViews`), and the
run's state serializes it as the value, so queries, results and checkpoints do not change.

Only values known to be plain JSON are packed (an activity's decoded result, a checkpoint read
back from history): ``json.dumps`` would silently turn a rehearsal mock's integer keys into strings.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: Outputs whose JSON is shorter stay Python objects: packing them would save next to nothing.
PACK_FROM_CHARS = 512


#: Fastest deflate: a packed output is made once per step, read at each render that uses it.
DEFLATE_LEVEL = 1


@dataclass(frozen=True, slots=True)
class PackedOutput:
    """A step output held as compact JSON text, deflated."""

    deflated: bytes

    @classmethod
    def of(cls, text: str) -> PackedOutput:
        """Pack the compact JSON ``text`` of an output."""
        return cls(zlib.compress(text.encode("utf-8"), DEFLATE_LEVEL))

    @property
    def text(self) -> str:
        """The output's compact JSON."""
        return zlib.decompress(self.deflated).decode("utf-8")

    def value(self) -> Any:
        """The output, parsed afresh (callers may not share or keep it)."""
        return json.loads(zlib.decompress(self.deflated))


def pack_json(value: Any) -> Any:
    """``value`` (decoded from JSON) as a :class:`PackedOutput` when its text is long, else as it is."""
    if not isinstance(value, dict | list):
        return value
    text = _text(value)
    return PackedOutput.of(text) if len(text) >= PACK_FROM_CHARS else value


def unpacked(value: Any) -> Any:
    """The plain value of an output that may be packed."""
    return value.value() if isinstance(value, PackedOutput) else value


def composed_dict(parts: dict[str, Any]) -> Any:
    """A composite output (a parallel's children, one loop pass) built from its parts' outputs.

    Plain parts give a plain dict, as before. With a packed part the whole is packed, joined as
    text, so the parts' outputs are not parsed only to be held again.
    """
    if not any(isinstance(part, PackedOutput) for part in parts.values()):
        return parts
    joined = _joined("{", "}", ((f"{json.dumps(key)}:", part) for key, part in parts.items()))
    return joined or {key: unpacked(part) for key, part in parts.items()}


def composed_list(parts: list[Any]) -> Any:
    """A loop's output (one entry per pass) built like :func:`composed_dict`."""
    if not any(isinstance(part, PackedOutput) for part in parts):
        return parts
    return _joined("[", "]", (("", part) for part in parts)) or [unpacked(part) for part in parts]


def _text(value: Any) -> str:
    return value.text if isinstance(value, PackedOutput) else json.dumps(value, separators=(",", ":"))


def _joined(opening: str, closing: str, parts: Iterable[tuple[str, Any]]) -> PackedOutput | None:
    """The parts' JSON joined into one packed output, or None when a part is not plain JSON."""
    try:
        return PackedOutput.of(opening + ",".join(label + _text(part) for label, part in parts) + closing)
    except (TypeError, ValueError):
        return None
