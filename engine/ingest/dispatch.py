"""Start or join runs for an alert: one open run per playbook and dedup key, and the dedup window.

For each matching playbook: render the dedup key, resolve the inputs, then

- the run of that workflow id closed less than ``dedup.window`` ago → the alert is recorded as
  joined to the closed run (nothing starts);
- otherwise :func:`engine.client.start_run` (signal-with-start): a new run, or the open run of the
  same incident counts the alert as a joined repeat.

Temporal being unreachable raises :class:`TemporalUnavailable` (the receiver answers 503 and the
sender retries; repeats are harmless because runs ignore an alert id they already have). Problems
that a retry cannot fix (a dedup key or input that does not render, a request Temporal refuses)
put the alert in the dead-letter store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from engine.alerts.model import Alert
from engine.client import PreparedRun, RunOptions, prepare_run, start_run
from engine.errors import FirelineError
from engine.ingest.dead_letters import DeadLetterStore
from engine.ingest.errors import TemporalUnavailable
from engine.ingest.models import AlertOutcome, AlertStatus, PlaybookOutcome, RunDisposition, Via
from engine.ingest.triggers import Match, TriggerSet
from engine.plan.inputs import resolve_inputs
from engine.plan.state import JoinedAlert
from engine.templating import TemplateEngine
from engine.workflows.types import JOIN_MANY_SIGNAL, JOIN_SIGNAL

logger = logging.getLogger("fireline.ingest")
T = TypeVar("T")
MAX_CLOSED_REMEMBERED = 100_000
MAX_OPEN_REMEMBERED = 100_000

#: Temporal answers that a retry will not change: the alert goes to the dead-letter store.
_PERMANENT = frozenset({RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.FAILED_PRECONDITION})


class _Permanent(FirelineError):
    """This playbook cannot start for this alert until something changes."""


def outcome_base(alert: Alert, status: AlertStatus) -> dict[str, Any]:
    """The identifying fields of an alert for an :class:`AlertOutcome`."""
    return {
        "id": alert.id,
        "source": alert.source.value,
        "rule": alert.rule,
        "title": alert.title,
        "severity": alert.severity.value,
        "fingerprint": alert.fingerprint,
        "status": status,
    }


class Dispatcher:
    """Hands alerts to Temporal for every playbook whose trigger matches."""

    def __init__(
        self,
        client: Client,
        triggers: TriggerSet,
        *,
        task_queue: str,
        dead_letters: DeadLetterStore | None = None,
        max_concurrent: int = 64,
        timeout_s: float = 20.0,
        engine: TemplateEngine | None = None,
        options: RunOptions | None = None,
    ) -> None:
        self.client = client
        self.options = options
        self.triggers = triggers
        self.task_queue = task_queue
        self.dead_letters = dead_letters or DeadLetterStore(None)
        self.timeout_s = timeout_s
        self.engine = engine or TemplateEngine()
        self._slots = asyncio.Semaphore(max_concurrent)
        # workflow id → monotonic time until which its closed run still absorbs repeats.
        self._closed_until: dict[str, float] = {}
        # Runs this process saw open: a repeat for one of them is a single signal (no describe, no start).
        self._open: OrderedDict[str, None] = OrderedDict()

    async def dispatch(
        self,
        alert: Alert,
        *,
        via: Via = Via.RECEIVER,
        only: Collection[str] | None = None,
        dead_letter: bool = True,
    ) -> AlertOutcome:
        """Match ``alert`` and start or join runs; ``only`` limits it to some playbooks (replays).

        Raises:
            TemporalUnavailable: Temporal did not answer; nothing is lost if the sender retries.
        """
        report = self.triggers.match(alert)
        matches = [m for m in report.matches if only is None or m.playbook.name in only]
        if not matches:
            base = outcome_base(alert, AlertStatus.NO_MATCH)
            return AlertOutcome(
                **base, mismatches=report.mismatches, reason=f"no playbook matched: {report.reason()}"
            )
        view = alert.template_view()
        results = await asyncio.gather(*(self._one(m, view) for m in matches), return_exceptions=True)
        outcomes: list[PlaybookOutcome] = []
        for result in results:
            if isinstance(result, TemporalUnavailable):
                raise result
            if isinstance(result, BaseException):
                raise result
            outcomes.append(result)
        return self._summarize(alert, view, outcomes, via=via, dead_letter=dead_letter)

    def preview(self, alert: Alert) -> AlertOutcome:
        """What :meth:`dispatch` will do, without Temporal: the matches and their run ids.

        A match whose dedup key does not render gets no run id; the hand-over dead-letters it.
        """
        report = self.triggers.match(alert)
        if not report.matches:
            base = outcome_base(alert, AlertStatus.NO_MATCH)
            return AlertOutcome(
                **base, mismatches=report.mismatches, reason=f"no playbook matched: {report.reason()}"
            )
        view = alert.template_view()
        outcomes: list[PlaybookOutcome] = []
        for match in report.matches:
            run_id: str | None = None
            with contextlib.suppress(FirelineError):
                run_id = self._prepare(match, view).run_id
            outcomes.append(
                PlaybookOutcome(
                    playbook=match.playbook.plan.name,
                    rule=match.rule,
                    disposition=RunDisposition.QUEUED,
                    run_id=run_id,
                )
            )
        return AlertOutcome(**outcome_base(alert, AlertStatus.QUEUED), playbooks=outcomes)

    def _summarize(
        self,
        alert: Alert,
        view: dict[str, Any],
        outcomes: list[PlaybookOutcome],
        *,
        via: Via,
        dead_letter: bool,
    ) -> AlertOutcome:
        kinds = {o.disposition for o in outcomes}
        if RunDisposition.STARTED in kinds:
            status = AlertStatus.STARTED
        elif kinds & {RunDisposition.JOINED, RunDisposition.JOINED_CLOSED}:
            status = AlertStatus.JOINED
        else:
            status = AlertStatus.FAILED
        outcome = AlertOutcome(**outcome_base(alert, status), playbooks=outcomes)
        failed = [o for o in outcomes if o.disposition is RunDisposition.FAILED]
        if failed:
            outcome.reason = "; ".join(f"{o.playbook}: {o.reason}" for o in failed)
            if dead_letter:
                letter = self.dead_letters.put(view, [o.playbook for o in failed], outcome.reason, via=via)
                outcome.dead_letter = letter.id
        return outcome

    async def _one(self, match: Match, view: dict[str, Any]) -> PlaybookOutcome:
        plan = match.playbook.plan
        try:
            prepared = self._prepare(match, view)
            run_id = prepared.run_id
            if run_id in self._open and await self._join_open(run_id, view):
                return PlaybookOutcome(
                    playbook=plan.name, rule=match.rule, disposition=RunDisposition.JOINED, run_id=run_id
                )
            if await self._closed_recently(run_id, plan.dedup_window_s):
                return PlaybookOutcome(
                    playbook=plan.name,
                    rule=match.rule,
                    disposition=RunDisposition.JOINED_CLOSED,
                    run_id=run_id,
                    reason="the run of this incident closed within the dedup window",
                )
            started = await self._call(
                lambda: start_run(
                    self.client,
                    plan,
                    view,
                    {},
                    task_queue=self.task_queue,
                    options=self.options,
                    prepared=prepared,
                )
            )
        except _Permanent as exc:
            return PlaybookOutcome(
                playbook=plan.name, rule=match.rule, disposition=RunDisposition.FAILED, reason=str(exc)
            )
        assert started is not None  # NOT_FOUND raises unless missing_ok
        self._remember_open(started.run_id)
        disposition = RunDisposition.JOINED if started.joined else RunDisposition.STARTED
        return PlaybookOutcome(
            playbook=plan.name, rule=match.rule, disposition=disposition, run_id=started.run_id
        )

    def _prepare(self, match: Match, view: dict[str, Any]) -> PreparedRun:
        plan = match.playbook.plan
        try:
            inputs = resolve_inputs(plan, view, {}, self.engine)
        except FirelineError as exc:
            raise _Permanent(f"inputs: {exc}") from None
        pseudonymizer = self.options.pseudonymizer if self.options else None
        try:
            return prepare_run(plan, view, inputs, engine=self.engine, pseudonymizer=pseudonymizer)
        except FirelineError as exc:
            raise _Permanent(f"dedup key did not render: {exc}") from None

    def _remember_open(self, run_id: str) -> None:
        self._open[run_id] = None
        self._open.move_to_end(run_id)
        while len(self._open) > MAX_OPEN_REMEMBERED:
            self._open.popitem(last=False)

    def is_open(self, run_id: str) -> bool:
        """True when this process saw the run open (a repeat can be a bare signal)."""
        return run_id in self._open

    def _joined(self, view: Mapping[str, Any]) -> JoinedAlert:
        alert = view
        if self.options is not None and self.options.pseudonymizer is not None:
            alert, _ = self.options.pseudonymizer.scrub(view, {})
        title = str(alert.get("title", ""))[:200]
        return JoinedAlert(id=str(alert.get("id", "")), title=title, received_at=datetime.now(UTC))

    async def _join_open(self, run_id: str, view: dict[str, Any]) -> bool:
        """Signal a repeat to a run seen open; False when it has closed since (start afresh)."""
        return await self.join_many(run_id, [view])

    async def join_many(self, run_id: str, views: list[dict[str, Any]]) -> bool:
        """Signal repeats to an open run, several in one signal; False when it has closed since.

        Raises:
            TemporalUnavailable: Temporal did not answer; nothing was recorded.
        """
        joined = [self._joined(v) for v in views]
        handle = self.client.get_workflow_handle(run_id)

        async def send() -> bool:
            if len(joined) == 1:
                await handle.signal(JOIN_SIGNAL, joined[0])
            else:
                await handle.signal(JOIN_MANY_SIGNAL, joined)
            return True

        if await self._call(send, missing_ok=True):
            return True
        self._open.pop(run_id, None)
        return False

    async def _closed_recently(self, run_id: str, window_s: float) -> bool:
        now = time.monotonic()
        until = self._closed_until.get(run_id)
        if until is not None:
            if now < until:
                return True
            del self._closed_until[run_id]
        handle = self.client.get_workflow_handle(run_id)
        desc = await self._call(handle.describe, missing_ok=True)
        if desc is None or desc.status in (None, WorkflowExecutionStatus.RUNNING) or desc.close_time is None:
            return False
        age = (datetime.now(UTC) - desc.close_time).total_seconds()
        if age >= window_s:
            return False
        if len(self._closed_until) >= MAX_CLOSED_REMEMBERED:
            self._closed_until = {k: v for k, v in self._closed_until.items() if v > now}
        self._closed_until[run_id] = now + (window_s - age)
        return True

    async def _call(self, call: Callable[[], Awaitable[T]], *, missing_ok: bool = False) -> T | None:
        """Make one Temporal call with a bounded number in flight and a deadline.

        With ``missing_ok`` a NOT_FOUND answer gives None (no run with that id yet).
        """
        try:
            async with self._slots, asyncio.timeout(self.timeout_s):
                return await call()
        except TimeoutError:
            raise TemporalUnavailable(f"Temporal did not answer within {self.timeout_s:g} s") from None
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND and missing_ok:
                return None
            if exc.status in _PERMANENT:
                raise _Permanent(f"Temporal refused the run: {exc.message[:200]}") from None
            raise TemporalUnavailable(f"Temporal is unavailable: {exc.status.name}") from None
        except FirelineError as exc:
            raise _Permanent(str(exc)) from None
        except RuntimeError as exc:
            # The SDK's bridge reports a failed (re)connect as a RuntimeError.
            raise TemporalUnavailable(f"Temporal is unreachable: {str(exc)[:120]}") from None
