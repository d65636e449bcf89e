"""An action's output: whole up to the cap, a marked preview beyond it."""

from __future__ import annotations

import json

from engine.activities.run_action import cap_output


def test_output_at_the_cap_is_kept_whole() -> None:
    output = {"text": "é" * 10}  # escaped by json.dumps: 6 bytes per character
    size = len(json.dumps(output, separators=(",", ":")))
    result = cap_output(output, size)
    assert result.output == output and not result.truncated and result.size_bytes == size


def test_output_one_byte_over_the_cap_is_a_preview_with_a_reference() -> None:
    output = {"total": 3, "hits": ["x" * 2000] * 3, "took": 4}
    size = len(json.dumps(output, separators=(",", ":")))
    kept: list[object] = []
    result = cap_output(output, size - 1, keep=lambda data: kept.append(data) or {"index": "i", "id": "1"})
    assert result.truncated and result.size_bytes == size
    assert result.output["total"] == 3 and result.output["took"] == 4 and "hits" not in result.output
    assert result.output["preview_keys"] == ["hits", "took", "total"]
    assert result.output["full_result"] == {"index": "i", "id": "1"} and kept == [output]
