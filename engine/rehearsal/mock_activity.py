"""A ``run_action`` activity that answers from MOCKS.yaml instead of outside systems."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from engine.errors import RehearsalError
from engine.rehearsal.models import Mocks
from engine.workflows.types import ACTIVITY_NAME, ActionRequest, ActionResult


def mocked_outcome(mocks: Mocks, path: str, attempt: int) -> Any:
    """The mocked output of ``path``'s attempt, or raise :class:`RehearsalError` for a mocked failure."""
    mock = mocks.for_path(path)
    if mock is None:
        raise RehearsalError(f"no mock for action step {path!r}")
    outcome = mock.outcome(attempt)
    if outcome.error is not None:
        raise _MockedFailure(outcome.error.type, outcome.error.message, outcome.error.retryable)
    return outcome.output


class _MockedFailure(RehearsalError):
    def __init__(self, type: str, message: str, retryable: bool) -> None:
        self.type = type
        self.retryable = retryable
        super().__init__(message)


def mock_activity(mocks: Mocks) -> Any:
    """Build the mocked ``run_action`` activity."""

    @activity.defn(name=ACTIVITY_NAME)
    async def run_action(request: ActionRequest) -> ActionResult:
        try:
            output = mocked_outcome(mocks, request.path, request.attempt)
        except _MockedFailure as exc:
            raise ApplicationError(
                str(exc),
                type=exc.type,
                non_retryable=not exc.retryable,
                category=ApplicationErrorCategory.BENIGN,
            ) from None
        except RehearsalError as exc:
            raise ApplicationError(str(exc), type="NoMock", non_retryable=True) from None
        return ActionResult(output=output)

    return run_action
