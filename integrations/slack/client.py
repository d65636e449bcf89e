"""Build Slack Web API clients: base URL from configuration, 429s waited out.

Settings (``ctx.settings`` first, then the environment): ``SLACK_API_URL`` (another base URL,
e.g. the fake server in tests). Secret: ``SLACK_BOT_TOKEN``.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RetryHandler
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from engine.sdk import ActionContext

BOT_TOKEN = "SLACK_BOT_TOKEN"
API_URL = "SLACK_API_URL"
DEFAULT_API_URL = "https://slack.com/api/"
#: A Retry-After longer than this is not slept through inside one attempt: the error goes back to
#: the step's retry policy instead, so an attempt never outlives its timeout asleep.
MAX_RETRY_AFTER_S = 30.0
DEFAULT_TIMEOUT_S = 30

log = logging.getLogger("fireline.slack")


class RetryAfterHandler(RateLimitErrorRetryHandler):
    """Waits exactly ``Retry-After`` seconds (plus a little jitter) on a 429, up to a cap."""

    def __init__(
        self,
        max_retry_count: int = 3,
        *,
        max_wait_s: float = MAX_RETRY_AFTER_S,
        jitter_s: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_s = max_wait_s
        self.jitter_s = jitter_s
        self.sleep = sleep

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        return retry_after(response) <= self.max_wait_s

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = retry_after(response) if response is not None else 1.0
        log.info("slack answered 429 for %s; waiting %.1f s", request.url.rsplit("/", 1)[-1], wait)
        state.next_attempt_requested = True
        self.sleep(wait + random.uniform(0, self.jitter_s))
        state.increment_current_attempt()


def retry_after(response: HttpResponse) -> float:
    """Seconds from a response's ``Retry-After`` header (1 when absent or unreadable)."""
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return max(float(values[0]), 0.0)
            except ValueError:
                return 1.0
    return 1.0


def retry_handlers(*, max_wait_s: float = MAX_RETRY_AFTER_S) -> list[RetryHandler]:
    """Handlers every fireline Slack client uses: connection resets once, 429s by Retry-After."""
    return [ConnectionErrorRetryHandler(max_retry_count=1), RetryAfterHandler(max_wait_s=max_wait_s)]


def make_client(token: str, base_url: str | None = None, *, timeout: int = DEFAULT_TIMEOUT_S) -> WebClient:
    """A Web API client for ``token`` at ``base_url`` (Slack itself when None)."""
    url = base_url or DEFAULT_API_URL
    if not url.endswith("/"):
        url += "/"
    return WebClient(token=token, base_url=url, timeout=timeout, retry_handlers=retry_handlers())


def api_url(ctx: ActionContext | None = None) -> str | None:
    """``SLACK_API_URL`` from the action's settings, else the environment."""
    value = ctx.settings.get(API_URL, ctx.settings.get(API_URL.lower())) if ctx is not None else None
    if value in (None, ""):
        value = os.environ.get(API_URL)
    return str(value) if value else None


def client_from_context(ctx: ActionContext) -> WebClient:
    """The client one action attempt uses: the bot token from its secrets."""
    return make_client(ctx.secret(BOT_TOKEN), api_url(ctx))
