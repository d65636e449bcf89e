"""The recent-alert log: memory and JSON lines, newest first, bounded and clipped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from engine.ingest.alert_log import LOG_FILE, AlertLog, recent_alerts
from engine.ingest.dead_letters import DeadLetterStore, list_dead_letters
from engine.ingest.models import AlertLogEntry, AlertStatus, Via


def entry(i: int, **kw: object) -> AlertLogEntry:
    return AlertLogEntry.model_validate(
        {"id": f"a{i}", "source": "generic", "status": AlertStatus.NO_MATCH, "at": datetime.now(UTC)} | kw
    )


def test_entries_are_kept_newest_first_in_memory_and_on_disk(tmp_path: Path) -> None:
    log = AlertLog(tmp_path, capacity=3)
    for i in range(5):
        log.record(entry(i))
    assert [e.id for e in log.recent(10)] == ["a4", "a3", "a2"]
    assert [e.id for e in recent_alerts(tmp_path, 4)] == ["a4", "a3", "a2", "a1"]
    assert recent_alerts(tmp_path / "elsewhere", 5) == []


def test_attacker_strings_are_clipped(tmp_path: Path) -> None:
    log = AlertLog(tmp_path)
    log.record(entry(1, title="x" * 100_000, reason="y" * 100_000, rule="{{ 7*7 }}" * 1000))
    (saved,) = recent_alerts(tmp_path, 1)
    assert len(saved.title) <= 200 and len(saved.reason) <= 1000 and len(saved.rule) <= 200
    assert (tmp_path / LOG_FILE).stat().st_size < 3000


def test_the_file_rotates_and_reading_spans_both_files(tmp_path: Path) -> None:
    log = AlertLog(tmp_path, max_file_bytes=2000)
    for i in range(40):
        log.record(entry(i))
    assert (tmp_path / (LOG_FILE + ".1")).exists()
    assert (tmp_path / LOG_FILE).stat().st_size <= 2000
    got = [e.id for e in recent_alerts(tmp_path, 15)]
    assert got == [f"a{i}" for i in range(39, 24, -1)]


def test_torn_lines_are_skipped(tmp_path: Path) -> None:
    log = AlertLog(tmp_path)
    log.record(entry(1))
    with (tmp_path / LOG_FILE).open("a") as f:
        f.write('{"id": "torn", "sta\n')
    log.record(entry(2))
    assert [e.id for e in recent_alerts(tmp_path, 10)] == ["a2", "a1"]


def test_dead_letters_round_trip(tmp_path: Path) -> None:
    store = DeadLetterStore(tmp_path)
    letter = store.put({"id": "a1"}, ["pb"], "inputs: bad", via=Via.RECEIVER)
    assert store.get(letter.id).alert == {"id": "a1"}
    assert [d.id for d in list_dead_letters(tmp_path)] == [letter.id]
    store.remove(letter.id)
    assert list_dead_letters(tmp_path) == []
