"""Where the console reads runs from and sends decisions to: Temporal, through engine.client.

:class:`RunSource` is the seam tests and benchmarks replace; :class:`TemporalRunSource` is the real
one. The list of runs is cached for a moment (every open console refreshes it every few seconds,
and they all share one listing), and every call has a deadline so a busy or worker-less server
never hangs a page.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from temporalio.client import Client

from engine import client as fl
from engine.errors import FirelineError
from engine.plan.state import Decision, RunState, StepRecord
from engine.workflows.types import RunInput

#: Returns the Temporal client (or an awaitable of it); called once per use, so it may reconnect.
ClientFactory = Callable[[], Client | Awaitable[Client]]
VIA = "console"


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
        self, run_id: str, step: str, decision: Decision, by: str, *, groups: list[str], reason: str
    ) -> StepRecord:
        """Send a decision through the run's ``decide`` Update (raises ``ApprovalRefused``)."""
        ...


class TemporalRunSource:
    """:class:`RunSource` over a Temporal client."""

    def __init__(
        self,
        client_factory: ClientFactory,
        *,
        max_runs: int = 1000,
        list_ttl_s: float = 2.0,
        timeout_s: float = 5.0,
    ) -> None:
        self._factory = client_factory
        self.max_runs = max_runs
        self.list_ttl_s = list_ttl_s
        self.timeout_s = timeout_s
        self._listed: tuple[float, list[fl.RunSummary]] | None = None
        self._list_lock = asyncio.Lock()
        self._alerts: OrderedDict[str, dict[str, Any]] = OrderedDict()

    async def _client(self) -> Client:
        made = self._factory()
        return await made if inspect.isawaitable(made) else made

    async def _bounded(self, work: Awaitable[Any], what: str) -> Any:
        try:
            return await asyncio.wait_for(work, self.timeout_s)
        except TimeoutError:
            raise SourceUnavailable(
                f"Temporal did not answer {what} within {self.timeout_s:g} s (is a worker running?)"
            ) from None

    async def runs(self) -> list[fl.RunSummary]:
        """Open and recent runs, shared between requests for ``list_ttl_s``."""
        loop = asyncio.get_running_loop()
        async with self._list_lock:
            if self._listed is not None and loop.time() - self._listed[0] < self.list_ttl_s:
                return self._listed[1]
            client = await self._client()
            found: list[fl.RunSummary] = await self._bounded(
                fl.list_runs(client, limit=self.max_runs), "the run listing"
            )
            self._listed = (loop.time(), found)
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
        self, run_id: str, step: str, decision: Decision, by: str, *, groups: list[str], reason: str
    ) -> StepRecord:
        """The same Update Slack and the CLI use, marked ``via="console"``."""
        client = await self._client()
        record: StepRecord = await self._bounded(
            fl.decide(client, run_id, step, decision, by, groups=groups, reason=reason, via=VIA),
            f"the decision on {run_id}",
        )
        self._listed = None  # the next listing shows the new state
        return record
