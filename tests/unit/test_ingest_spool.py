"""The alert spool: what was acknowledged survives a crash, what was handed over does not come back."""

from __future__ import annotations

from pathlib import Path

from engine.ingest.models import Via
from engine.ingest.spool import DIR_NAME, FILE_NAME, AlertSpool, pending_count


async def test_acknowledged_alerts_survive_a_crash_and_handed_over_ones_do_not(tmp_path: Path) -> None:
    spool = AlertSpool(tmp_path)
    first = await spool.put({"id": "a-1"})
    await spool.put({"id": "a-2"}, via=Via.RECEIVER)
    spool.done([first])
    await spool.put({"id": "a-3"})  # its write carries a-1's done line too
    # No close(): the process dies here. A new spool over the same folder sees what is left.
    again = AlertSpool(tmp_path)
    assert [item.alert["id"] for item in again.pending(10)] == ["a-2", "a-3"]
    assert pending_count(tmp_path) == 2 and again.ready.is_set()
    assert (await again.put({"id": "a-4"})).n == 4  # numbering goes on after a restart


async def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    spool = AlertSpool(tmp_path)
    await spool.put({"id": "a-1"})
    with (tmp_path / DIR_NAME / FILE_NAME).open("ab") as handle:
        handle.write(b'{"n": 2, "via": "receiver", "alert": {"id": "a-')  # a write cut short
    assert [item.alert["id"] for item in AlertSpool(tmp_path).pending(10)] == ["a-1"]


async def test_close_compacts_the_journal_to_what_is_still_pending(tmp_path: Path) -> None:
    spool = AlertSpool(tmp_path, compact_bytes=1)
    items = [await spool.put({"id": f"a-{i}"}) for i in range(5)]
    spool.done(items[:4])
    await spool.close()
    lines = (tmp_path / DIR_NAME / FILE_NAME).read_text().splitlines()
    assert len(lines) == 1 and '"a-4"' in lines[0]
    assert [item.alert["id"] for item in AlertSpool(tmp_path).pending(10)] == ["a-4"]


async def test_without_a_home_nothing_touches_the_disk(tmp_path: Path) -> None:
    spool = AlertSpool(None)
    item = await spool.put({"id": "a-1"})
    assert spool.count() == 1
    spool.done([item])
    assert spool.count() == 0 and not any(tmp_path.iterdir())


async def test_an_alert_accepted_after_a_torn_line_survives_the_next_restart(tmp_path: Path) -> None:
    await AlertSpool(tmp_path).put({"id": "a-1"})
    with (tmp_path / DIR_NAME / FILE_NAME).open("ab") as handle:
        handle.write(b'{"n":2,"via":"receiver","alert":{"id":"a-')  # the crash cut this write short
    await AlertSpool(tmp_path).put({"id": "a-3"})  # acknowledged after the restart
    assert [item.alert["id"] for item in AlertSpool(tmp_path).pending(10)] == ["a-1", "a-3"]


async def test_pending_count_agrees_with_the_spool_while_a_line_is_being_written(tmp_path: Path) -> None:
    journal = tmp_path / DIR_NAME / FILE_NAME
    journal.parent.mkdir()
    # Lines as an earlier version wrote them (spaces), a done line, and a tail still being written.
    journal.write_bytes(
        b'{"n": 1, "via": "receiver", "alert": {"id": "a-1"}}\n'
        b'{"n":2,"via":"receiver","alert":{"id":"a-2","title":"x}"}}\n'
        b'{"n":3,"via":"receiver","alert":{"id":"a-3"}}\n'
        b'{"done": 1}\n'
        b'{"n":4,"via":"receiver","alert":{"id":"a-4"'
    )
    assert pending_count(tmp_path) == 2
    assert [item.alert["id"] for item in AlertSpool(tmp_path).pending(10)] == ["a-2", "a-3"]
    assert pending_count(tmp_path) == 2  # the spool cut the torn tail; nothing else changed
