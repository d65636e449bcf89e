"""``PollElasticAlerts``: the workflow a Temporal Schedule runs every N seconds to poll Elastic Security.

It is one activity (``poll_elastic_alerts``, see :mod:`engine.ingest.poller_activity`): find open
alerts in ``.alerts-security.alerts-*``, start or join playbooks, mark them ``acknowledged``.
Kept free of I/O imports so the workflow sandbox stays cheap.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy

POLL_WORKFLOW = "PollElasticAlerts"
POLL_ACTIVITY = "poll_elastic_alerts"
POLL_SCHEDULE_ID = "fireline-poll-elastic"
DEFAULT_INDEX = ".alerts-security.alerts-*"


class PollInput(BaseModel):
    """What one poll looks at."""

    index: str = DEFAULT_INDEX
    limit: int = Field(200, ge=1, le=1000)


class PollReport(BaseModel):
    """What one poll did."""

    seen: int = 0
    started: int = 0
    joined: int = 0
    acknowledged: int = 0
    no_match: int = 0
    failed: int = 0
    invalid: int = 0
    runs: list[str] = Field(default_factory=list)
    ack_errors: list[str] = Field(default_factory=list)


@workflow.defn(name=POLL_WORKFLOW)
class PollElasticAlerts:
    """One poll of Elastic Security's open alerts."""

    @workflow.run
    async def run(self, request: PollInput) -> PollReport:
        """Run the poll activity; a failed attempt is retried a few times, then the next tick tries."""
        report: PollReport = await workflow.execute_activity(
            POLL_ACTIVITY,
            request,
            result_type=PollReport,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1)),
        )
        return report
