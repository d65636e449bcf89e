"""The start-up heap freeze of long-running processes: garbage goes first, survivors are exempt."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from engine.heap import freeze_startup_heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    # The freeze changes the whole interpreter: give the rest of the suite its heap back.
    yield
    gc.unfreeze()


def test_garbage_cycles_are_collected_before_the_freeze_not_kept_forever() -> None:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b  # only the cycle holds them now: refcounting alone cannot free them
    gc.disable()  # no collection may run by chance between here and the call
    try:
        assert gone() is not None
        freeze_startup_heap()
        assert gone() is None
    finally:
        gc.enable()


def test_objects_alive_at_start_up_are_left_out_of_later_collections() -> None:
    kept = [_Node() for _ in range(100)]
    before = gc.get_freeze_count()
    frozen = freeze_startup_heap()
    assert frozen >= before + len(kept)
    tracked = {id(o) for o in gc.get_objects()}
    assert not any(id(node) in tracked for node in kept)
    assert len(kept) == 100  # still alive and usable: frozen is not freed
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    assert id(kept[0]) in {id(o) for o in gc.get_objects()}
