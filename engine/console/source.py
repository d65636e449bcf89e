"""Where the console reads runs from and sends decisions to: Temporal, through engine.client.

:class:`RunSource` is the seam tests and benchmarks replace; :class:`TemporalRunSource` is the real
one. The list of runs is cached for a moment (every open console refreshes it every few seconds,
and they all share one listing), and every call has a deadline so a busy or worker-less server
never hangs a page.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from temporalio.client import Client

from engine import client as fl
from engine.errors import FirelineError
from engine.plan.state import Decision, RunState, StepRecord
from engine.reset import ResetOutcome, reset_run
from engine.workflows.types import RunInput

#: Returns the Temporal client (or an awaitable of it); called once per use, so it may reconnect.
ClientFactory = Callable[[], Client | Awaitable[Client]]
log = logging.getLogger("fireline.console")
VIA = "console"
RESET_TIMEOUT_S = 30.0


def _report_failure(task: asyncio.Task[Any]) -> None:
    """Log a background listing that failed (the next request tries again)."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("background run listing failed: %s", type(task.exception()).__name__)


class SourceUnavailable(FirelineError):
    """Temporal did not answer in time (or at all)."""


class RunSource(Protocol):
    """What the console needs from the runtime."""

    async def runs(self) -> list[fl.RunSummary]:
        """Open and recent runs, newest first."""
        ...

    async def state(self, run_id: str) -> RunState:
        """The live timeline of one run (raises ``RunNotFound``)."""
        ...

    async def alert(self, run_id: str) -> dict[str, Any] | None:
        """The normalized alert the run started with, or None when it cannot be read."""
        ...

    async def decide(
        self,
        run_id: str,
        step: str,
        decision: Decision,
        by: str,
        *,
        groups: list[str],
        reason: str,
        edits: dict[str, Any] | None = None,
    ) -> StepRecord:
        """Send a decision through the run's ``decide`` Update (raises ``ApprovalRefused``)."""
        ...

    async def reset(self, run_id: str, step: str | None, *, by: str, reason: str) -> ResetOutcome:
        """Re-run ``run_id`` from ``step`` (None: the failed step); raises ``ResetRefused``."""
        ...


class TemporalRunSource:
    """:class:`RunSource` over a Temporal client."""

    def __init__(
        self,
        client_factory: ClientFactory,
        *,
        max_runs: int = 1000,
        list_ttl_s: float = 2.0,
        max_stale_s: float = 30.0,
        timeout_s: float = 5.0,
    ) -> None:
        self._factory = client_factory
        self.max_runs = max_runs
        self.list_ttl_s = list_ttl_s
        self.max_stale_s = max_stale_s
        self.timeout_s = timeout_s
        self._listed: tuple[float, list[fl.RunSummary]] | None = None
        self._list_lock = asyncio.Lock()
        self._refresh: asyncio.Task[list[fl.RunSummary]] | None = None
        self._alerts: OrderedDict[str, dict[str, Any]] = OrderedDict()

    async def _client(self) -> Client:
        made = self._factory()
        return await made if inspect.isawaitable(made) else made

    async def _bounded(self, work: Awaitable[Any], what: str, timeout_s: float | None = None) -> Any:
        limit = timeout_s or self.timeout_s
        try:
            return await asyncio.wait_for(work, limit)
        except TimeoutError:
            raise SourceUnavailable(
                f"Temporal did not answer {what} within {limit:g} s (is a worker running?)"
            ) from None

    async def runs(self) -> list[fl.RunSummary]:
        """Open and recent runs, shared between requests.

        Younger than ``list_ttl_s``: returned as is. Older, up to ``max_stale_s``: returned at once
        while a fresh listing is fetched in the background for the next request (pages stay fast
        however long Temporal takes to list a thousand runs). Older still, or after a decision:
        fetched before answering.
        """
        loop = asyncio.get_running_loop()
        listed = self._listed
        if listed is not None:
            age = loop.time() - listed[0]
            if age < self.list_ttl_s:
                return listed[1]
            if age < self.max_stale_s:
                if self._refresh is None or self._refresh.done():
                    self._refresh = asyncio.create_task(self._fetch_runs())
                    self._refresh.add_done_callback(_report_failure)
                return listed[1]
        return await self._fetch_runs()

    async def _fetch_runs(self) -> list[fl.RunSummary]:
        async with self._list_lock:  # one listing at a time; waiters take its result
            listed = self._listed
            if listed is not None and asyncio.get_running_loop().time() - listed[0] < self.list_ttl_s:
                return listed[1]
            client = await self._client()
            found: list[fl.RunSummary] = await self._bounded(
                fl.list_runs(client, limit=self.max_runs), "the run listing"
            )
            self._listed = (asyncio.get_running_loop().time(), found)
            return found

    async def state(self, run_id: str) -> RunState:
        """The run's ``status`` query."""
        client = await self._client()
        state: RunState = await self._bounded(fl.status(client, run_id), f"the status of {run_id}")
        return state

    async def alert(self, run_id: str) -> dict[str, Any] | None:
        """The alert from the run's first history event (decoded, so sealed payloads open)."""
        if run_id in self._alerts:
            self._alerts.move_to_end(run_id)
            return self._alerts[run_id]
        try:
            alert: dict[str, Any] | None = await self._bounded(
                self._read_alert(run_id), f"the alert of {run_id}"
            )
        except Exception:  # unreadable history (foreign run, missing key): the page says so
            return None
        if alert is not None:
            self._alerts[run_id] = alert
            while len(self._alerts) > 512:
                self._alerts.popitem(last=False)
        return alert

    async def _read_alert(self, run_id: str) -> dict[str, Any] | None:
        client = await self._client()
        handle = client.get_workflow_handle(run_id)
        async for event in handle.fetch_history_events(page_size=1):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            decoded = await client.data_converter.decode(payloads, [RunInput])
            first = decoded[0] if decoded else None
            return dict(first.alert) if isinstance(first, RunInput) else None
        return None

    async def decide(
        self,
        run_id: str,
        step: str,
        decision: Decision,
        by: str,
        *,
        groups: list[str],
        reason: str,
        edits: dict[str, Any] | None = None,
    ) -> StepRecord:
        """The same Update Slack and the CLI use, marked ``via="console"``."""
        client = await self._client()
        record: StepRecord = await self._bounded(
            fl.decide(client, run_id, step, decision, by, groups=groups, reason=reason, via=VIA, edits=edits),
            f"the decision on {run_id}",
        )
        self._listed = None  # the next listing shows the new state
        return record

    async def reset(self, run_id: str, step: str | None, *, by: str, reason: str) -> ResetOutcome:
        """``fireline reset`` from the console, marked ``via="console"``."""
        client = await self._client()
        outcome: ResetOutcome = await self._bounded(
            reset_run(client, run_id, step, by=by, reason=reason, via=VIA),
            f"the reset of {run_id}",
            # It reads the whole history; cutting it short between the reset and its note would
            # leave the new run waiting for a note that never comes.
            timeout_s=max(self.timeout_s, RESET_TIMEOUT_S),
        )
        self._listed = None
        return outcome
