"""Packed step outputs: what templates and the run's state see is the value that came in."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from engine.plan.models import StepKind
from engine.plan.packed import (
    PACK_FROM_CHARS,
    PackedOutput,
    composed_dict,
    composed_list,
    pack_json,
    unpacked,
)
from engine.plan.state import StepRecord
from engine.plan.views import StepViews, step_view
from engine.templating import TemplateEngine

HITS = {
    "hits": [{"_source": {"msg": f"hit {n} \u00e9\u2603", "score": n / 7}} for n in range(30)],
    "total": 30,
}


def test_a_large_json_output_is_packed_and_reads_back_equal() -> None:
    packed = pack_json(HITS)
    assert isinstance(packed, PackedOutput) and len(packed.text) >= PACK_FROM_CHARS
    assert unpacked(packed) == HITS
    assert unpacked(packed) is not unpacked(packed)  # each reader gets its own copy to keep


def test_a_packed_output_holds_far_less_than_its_json_text() -> None:
    packed = pack_json(HITS)
    assert isinstance(packed, PackedOutput)
    assert len(packed.deflated) * 3 < len(packed.text.encode())  # search hits repeat their keys


def test_small_outputs_and_scalars_stay_as_they_are() -> None:
    small = {"message": "done"}
    assert pack_json(small) is small
    assert pack_json("x" * 5000) == "x" * 5000
    assert pack_json(None) is None


def test_composites_of_packed_parts_equal_the_plain_composites() -> None:
    parts: dict[str, Any] = {"wide": HITS, "narrow": {"message": "3 keys"}, "none": None}
    packed_parts = {key: pack_json(value) for key, value in parts.items()}
    assert unpacked(composed_dict(packed_parts)) == parts
    passes = [composed_dict(packed_parts), None, composed_dict({"only": {"ok": True}})]
    assert unpacked(composed_list(passes)) == [parts, None, {"only": {"ok": True}}]
    plain = [{"a": 1}, None]
    assert composed_list(plain) is plain  # nothing packed: the plain list, as before


def test_a_part_that_is_not_json_keeps_the_composite_as_objects() -> None:
    moment = datetime(2026, 12, 1, tzinfo=UTC)  # e.g. a rehearsal mock's YAML timestamp
    whole = composed_dict({"big": pack_json(HITS), "when": {"at": moment}})
    assert whole == {"big": HITS, "when": {"at": moment}}


def test_the_record_serializes_a_packed_output_as_its_value() -> None:
    record = StepRecord(path="evidence", id="evidence", kind=StepKind.ACTION, started_at=datetime.now(UTC))
    record.output = pack_json(HITS)
    assert json.loads(record.model_dump_json())["output"] == HITS
    assert record.model_dump()["output"] == HITS
    assert StepRecord.model_validate_json(record.model_dump_json()).output == HITS
    assert record.output_summary == "hits=[30] total=30"


def test_step_views_parse_a_packed_output_once_per_render() -> None:
    record = StepRecord(path="evidence", id="evidence", kind=StepKind.ACTION, started_at=datetime.now(UTC))
    record.output = pack_json(HITS)
    held = {"evidence": step_view(record)}
    views = StepViews(held)
    assert views["evidence"]["output"] == HITS
    assert views["evidence"] is views["evidence"]  # one parse for the whole render
    assert isinstance(held["evidence"]["output"], PackedOutput)  # the run keeps the text
    assert list(views) == ["evidence"] and len(views) == 1


def test_templates_that_write_all_steps_as_json_see_the_values() -> None:
    record = StepRecord(path="evidence", id="evidence", kind=StepKind.ACTION, started_at=datetime.now(UTC))
    record.output = pack_json(HITS)
    engine = TemplateEngine()
    context = {"steps": StepViews({"evidence": step_view(record)})}
    for template in ("{{ steps | tojson }}", "{{ steps | to_json }}"):
        written = json.loads(engine.render(template, context))
        assert written["evidence"]["output"] == HITS, template
