"""The alert spool: what was acknowledged survives a restart, what was handed over does not come back."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from pathlib import Path

import pytest

from engine.ingest.errors import SpoolUnavailable
from engine.ingest.models import Via
from engine.ingest.spool import SpoolWriter
from engine.ingest.spool_files import HANDED_FILE, LEGACY_FILE, pending_count, segments, spool_dir
from engine.ingest.spool_reader import SpoolReader


async def opened(home: Path) -> SpoolReader:
    reader = SpoolReader(home)
    await reader.open()
    return reader


def ids(reader: SpoolReader) -> list[str]:
    return [item.alert["id"] for item in reader.pending(100)]


async def test_acknowledged_alerts_survive_a_restart_and_handed_over_ones_do_not(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    first = await writer.put({"id": "a-1"})
    await writer.put({"id": "a-2"}, via=Via.RECEIVER)
    reader = await opened(tmp_path)
    assert ids(reader) == ["a-1", "a-2"] and reader.ready.is_set()
    reader.done([first])
    await writer.put({"id": "a-3"})
    await writer.close()
    await reader.close()
    again = await opened(tmp_path)
    assert ids(again) == ["a-2", "a-3"] and pending_count(tmp_path) == 2
    assert (await SpoolWriter(tmp_path).put({"id": "a-4"})).n == 4  # numbering goes on after a restart


async def test_a_second_receiver_on_the_same_spool_is_refused(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    with pytest.raises(SpoolUnavailable, match="another receiver is appending"):
        SpoolWriter(tmp_path)
    await writer.close()
    await SpoolWriter(tmp_path).close()  # free again once the first one closed


async def test_an_alert_accepted_after_a_torn_line_survives_the_next_restart(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    await writer.put({"id": "a-1"})
    await writer.close()
    [(_, newest)] = segments(spool_dir(tmp_path))
    with newest.open("ab") as handle:
        handle.write(b'{"n":2,"via":"receiver","alert":{"id":"a-')  # the crash cut this write short
    writer = SpoolWriter(tmp_path)
    await writer.put({"id": "a-3"})  # acknowledged after the restart
    await writer.close()
    assert ids(await opened(tmp_path)) == ["a-1", "a-3"]


async def test_segments_all_handed_over_are_deleted_with_their_done_lines(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, segment_bytes=1)  # every batch opens a new segment
    items = [await writer.put({"id": f"a-{i}"}) for i in range(5)]
    assert [first for first, _ in segments(spool_dir(tmp_path))] == [1, 2, 3, 4, 5]
    reader = await opened(tmp_path)
    reader.done(items[:4])
    # Sealed and all handed over: gone. The newest one stays (the receiver still appends to it).
    assert [first for first, _ in segments(spool_dir(tmp_path))] == [5]
    assert (spool_dir(tmp_path) / HANDED_FILE).read_text() == ""
    reader.done(items[4:])
    assert (spool_dir(tmp_path) / HANDED_FILE).read_text() == '{"done":5}\n'
    await reader.close()
    await writer.close()
    assert pending_count(tmp_path) == 0 and ids(await opened(tmp_path)) == []


async def test_the_reader_follows_a_receiver_in_another_process(tmp_path: Path) -> None:
    reader = await opened(tmp_path)
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from engine.ingest.spool import SpoolWriter\n"
        "async def main():\n"
        "    w = SpoolWriter(Path(sys.argv[1]), segment_bytes=200)\n"
        "    for i in range(30):\n"
        "        await w.put({'id': f'a-{i}', 'title': 'x' * 40})\n"
        "asyncio.run(main())\n"
    )
    # Followed while it writes: the reader only ever sees whole lines of alerts acknowledged so far.
    writer = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(tmp_path))
    deadline = time.monotonic() + 30
    while reader.count() < 30:
        assert time.monotonic() < deadline, f"only {reader.count()} of 30 alerts seen"
        await asyncio.sleep(0.01)
    assert await asyncio.wait_for(writer.wait(), 30) == 0
    assert ids(reader) == [f"a-{i}" for i in range(30)]
    assert len(segments(spool_dir(tmp_path))) > 2  # it rotated while being followed
    reader.done(reader.pending(100))
    assert len(segments(spool_dir(tmp_path))) == 1
    await reader.close()


async def test_a_second_hand_over_waits_until_the_first_one_lets_go(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    await writer.put({"id": "a-1"})
    first = await opened(tmp_path)
    second = asyncio.create_task(opened(tmp_path))
    await asyncio.sleep(0.3)
    assert not second.done()  # it would hand a-1 over a second time
    first.done(first.pending(10))
    await first.close()
    assert ids(await asyncio.wait_for(second, 10)) == []
    await writer.close()


async def test_an_earlier_versions_journal_is_handed_over_first(tmp_path: Path) -> None:
    folder = spool_dir(tmp_path)
    folder.mkdir()
    # As an earlier version wrote it: spaced lines, done lines in the same file, a torn tail.
    (folder / LEGACY_FILE).write_bytes(
        b'{"n": 1, "via": "receiver", "alert": {"id": "a-1"}}\n'
        b'{"n":2,"via":"receiver","alert":{"id":"a-2","title":"x}"}}\n'
        b'{"n":3,"via":"receiver","alert":{"id":"a-3"}}\n'
        b'{"done": 1}\n'
        b'{"n":4,"via":"receiver","alert":{"id":"a-4"'
    )
    assert pending_count(tmp_path) == 2
    writer = SpoolWriter(tmp_path)
    assert (await writer.put({"id": "a-5"})).n == 4  # the torn a-4 was never acknowledged
    reader = await opened(tmp_path)
    assert ids(reader) == ["a-2", "a-3", "a-5"]
    reader.done(reader.pending(2))
    assert not (folder / LEGACY_FILE).exists()
    assert ids(reader) == ["a-5"] and pending_count(tmp_path) == 1
    await reader.close()
    await writer.close()


async def test_a_batch_the_disk_refuses_is_neither_acknowledged_nor_left_half_written(tmp_path: Path) -> None:
    # A real short write: the file-size limit stops the second alert's line part-way (EFBIG).
    script = (
        "import asyncio, resource, signal, sys\n"
        "from pathlib import Path\n"
        "from engine.ingest.spool import SpoolWriter\n"
        "async def main():\n"
        "    w = SpoolWriter(Path(sys.argv[1]))\n"
        "    await w.put({'id': 'a-1'})\n"
        "    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "    resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))\n"
        "    try:\n"
        "        await w.put({'id': 'a-2', 'title': 'x' * 500})\n"
        "    except OSError as exc:\n"
        "        print('refused', exc.errno)\n"
        "asyncio.run(main())\n"
    )
    run = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, str(tmp_path), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await run.communicate()
    assert out.decode().startswith("refused") and run.returncode == 0
    [(_, segment)] = segments(spool_dir(tmp_path))
    assert segment.read_bytes().count(b"\n") == 1 and segment.read_bytes().endswith(b"\n")
    writer = SpoolWriter(tmp_path)
    await writer.put({"id": "a-3"})
    await writer.close()
    assert ids(await opened(tmp_path)) == ["a-1", "a-3"]


async def test_a_hand_over_waiting_for_the_spool_can_be_stopped(tmp_path: Path) -> None:
    first = await opened(tmp_path)
    waiting = asyncio.create_task(opened(tmp_path))
    await asyncio.sleep(0.2)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 1)  # no thread left blocked on the lock
    await first.close()


@pytest.mark.parametrize("seed", range(8))
async def test_restarts_rotations_and_deletions_hand_every_alert_over_exactly_once(
    tmp_path: Path, seed: int
) -> None:
    # Receiver and hand-over restarted at random points, segments rotating every few alerts.
    rng = random.Random(seed)
    writer = SpoolWriter(tmp_path, segment_bytes=rng.choice([1, 150, 600]))
    reader = await opened(tmp_path)
    acknowledged: list[int] = []
    handed: list[int] = []
    for _ in range(60):
        roll = rng.random()
        if roll < 0.5:
            batch = await asyncio.gather(
                *(writer.put({"id": f"a-{rng.random()}"}) for _ in range(rng.randint(1, 6)))
            )
            acknowledged += [item.n for item in batch]
        elif roll < 0.8:
            reader.scan()
            waiting = reader.pending(100)
            done = rng.sample(waiting, rng.randint(0, len(waiting)))
            reader.done(done)
            handed += [item.n for item in done]
        elif roll < 0.9:
            await writer.close()  # the receiver restarts (everything it acknowledged is on disk)
            writer = SpoolWriter(tmp_path, segment_bytes=rng.choice([1, 150, 600]))
        else:
            await reader.close()  # the hand-over restarts: its done lines were written already
            reader = await opened(tmp_path)
    await writer.close()
    reader.scan()
    rest = reader.pending(10_000)
    reader.done(rest)
    handed += [item.n for item in rest]
    await reader.close()
    assert sorted(handed) == sorted(acknowledged) and len(set(acknowledged)) == len(acknowledged)
    assert acknowledged == sorted(acknowledged)  # numbering only goes up, across restarts too
    assert len(segments(spool_dir(tmp_path))) == 1 and pending_count(tmp_path) == 0
