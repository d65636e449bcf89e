"""Hand spooled alerts to Temporal in the background: start or join their runs, then forget them.

The receiver answers as soon as an alert is in the spool (:mod:`engine.ingest.spool`);
:class:`Handover` follows it through a :class:`~engine.ingest.spool_reader.SpoolReader` and drains it
in batches through the same :class:`~engine.ingest.dispatch.Dispatcher`
as the synchronous path (one run per playbook and dedup key, repeats joined). While Temporal does
not answer, alerts stay spooled and the hand-over retries with a growing pause; an alert that
cannot be read back goes to the dead-letter store. Nothing is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable

from pydantic import ValidationError

from engine import metrics
from engine.alerts.model import Alert
from engine.ingest.dispatch import Dispatcher
from engine.ingest.errors import TemporalUnavailable
from engine.ingest.models import AlertOutcome, AlertStatus, RunDisposition, Via
from engine.ingest.spool import Spooled
from engine.ingest.spool_reader import SpoolReader

logger = logging.getLogger("fireline.ingest")
BATCH = 5000
#: Repeats per join signal (a storm on one incident must not make one huge payload).
MAX_JOINED_PER_SIGNAL = 200
FIRST_PAUSE_S = 0.5
MAX_PAUSE_S = 30.0

Record = Callable[[AlertOutcome, Via], None]
#: A spooled alert of a batch: its index, itself, and what it will start or join.
_Member = tuple[int, Spooled, AlertOutcome]
YIELD_EVERY = 20


class Handover:
    """The background task that empties one spool into Temporal."""

    def __init__(
        self, spool: SpoolReader, dispatcher: Dispatcher, record: Record, *, batch: int = BATCH
    ) -> None:
        self.spool = spool
        self.dispatcher = dispatcher
        self.record = record
        self.batch = batch
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        #: Alerts waiting in the spool after the last batch (None before the first).
        self.pending: int | None = None

    @property
    def running(self) -> bool:
        """Whether the hand-over is draining the spool."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Begin draining (idempotent)."""
        self._closing = False
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="fireline-alert-handover")

    async def stop(self, *, grace_s: float = 0.0) -> None:
        """Stop, letting the batch in flight finish for up to ``grace_s``; the rest stays spooled.

        A batch cut short is handed over again at the next start, so its repeats would be
        recorded twice on their runs: a hand-over that can wait gives it ``grace_s``.
        """
        task, self._task = self._task, None
        if task is not None:
            self._closing = True
            self.spool.ready.set()  # an idle loop wakes up and sees it is closing
            if grace_s > 0:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(task), grace_s)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # already over; stopping must still close the spool
                logger.error("alert hand-over stopped on %s", type(exc).__name__)
        await self.spool.close()

    async def _loop(self) -> None:
        await self.spool.open()
        self.pending = self.spool.count()
        metrics.spool_pending(self.pending)
        pause = FIRST_PAUSE_S
        while not self._closing:
            await self.spool.ready.wait()
            if self._closing:
                return
            items = self.spool.pending(self.batch)
            if not items:
                continue
            handed = await self._hand_over(items)
            self.spool.done([item for item, ok in zip(items, handed, strict=True) if ok])
            self.pending = self.spool.count()
            metrics.spool_pending(self.pending)
            if all(handed):
                pause = FIRST_PAUSE_S
                continue
            logger.warning(
                "Temporal did not take %d spooled alert(s); retrying in %.1f s",
                handed.count(False),
                pause,
            )
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE_S)

    async def _hand_over(self, items: list[Spooled]) -> list[bool]:
        """Hand a batch over; repeats of one incident go to its run together (one signal)."""
        groups: dict[str, list[_Member]] = defaultdict(list)
        alone: list[int] = []
        for index, item in enumerate(items):
            if index % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)  # the receiver shares this loop: keep accepting meanwhile
            try:
                alert = Alert.model_validate(item.alert)
            except ValidationError:
                alone.append(index)  # _one dead-letters it
                continue
            preview = self.dispatcher.preview(alert)
            run_ids = [p.run_id for p in preview.playbooks]
            if preview.status is AlertStatus.QUEUED and len(run_ids) == 1 and run_ids[0]:
                groups[run_ids[0]].append((index, item, preview))
            else:
                alone.append(index)
        handed = [False] * len(items)

        async def single(index: int) -> None:
            handed[index] = await self._one(items[index])

        async def group(run_id: str, members: list[_Member]) -> None:
            for chunk in range(0, len(members), MAX_JOINED_PER_SIGNAL):
                part = members[chunk : chunk + MAX_JOINED_PER_SIGNAL]
                if not self.dispatcher.is_open(run_id):
                    # The first one starts (or joins) the run; it is then known open.
                    first, part = part[0], part[1:]
                    handed[first[0]] = await self._one(first[1])
                    if not handed[first[0]] or not part:
                        continue
                for ok, (index, _, _) in zip(await self._join(run_id, part), part, strict=True):
                    handed[index] = ok

        await asyncio.gather(*(single(i) for i in alone), *(group(r, m) for r, m in groups.items()))
        return handed

    async def _join(self, run_id: str, part: list[_Member]) -> list[bool]:
        """Join repeats to an open run in one signal; one by one when it has closed since."""
        try:
            joined = await self.dispatcher.join_many(run_id, [item.alert for _, item, _ in part])
        except TemporalUnavailable:
            return [False] * len(part)
        if not joined:
            return [await self._one(item) for _, item, _ in part]
        for _, item, outcome in part:
            outcome.status = AlertStatus.JOINED
            for playbook in outcome.playbooks:
                playbook.disposition = RunDisposition.JOINED
            self.record(outcome, item.via)
        return [True] * len(part)

    async def _one(self, item: Spooled) -> bool:
        """Hand one alert over; False leaves it spooled for a retry."""
        try:
            alert = Alert.model_validate(item.alert)
        except ValidationError as exc:
            self._dead_letter(item, f"spooled alert is unreadable: {exc.errors()[:1]}")
            return True
        try:
            outcome = await self.dispatcher.dispatch(alert, via=item.via)
        except TemporalUnavailable:
            return False
        except Exception as exc:  # a bug of ours must not lose the alert: keep it as a dead letter
            logger.error("hand-over of a spooled alert failed: %s", type(exc).__name__)
            names = [m.playbook.name for m in self.dispatcher.triggers.match(alert).matches]
            self._dead_letter(item, f"hand-over failed: {type(exc).__name__}", names)
            return True
        self.record(outcome, item.via)
        return True

    def _dead_letter(self, item: Spooled, reason: str, playbooks: list[str] | None = None) -> None:
        letter = self.dispatcher.dead_letters.put(item.alert, playbooks or [], reason, via=item.via)
        outcome = AlertOutcome(
            id=str(item.alert.get("id", ""))[:200],
            status=AlertStatus.FAILED,
            reason=reason,
            dead_letter=letter.id,
        )
        self.record(outcome, item.via)
