"""How to reach AWS IAM, resolved inside the action, and the boto3 client built from it.

Settings (``ctx.settings`` first, then the environment): ``AWS_REGION`` (default ``us-east-1``;
IAM is global), ``AWS_ENDPOINT_URL`` (another IAM endpoint, e.g. a local moto server),
``AWS_PROFILE``. Secrets (``ctx.optional_secret``): ``AWS_ACCESS_KEY_ID`` with
``AWS_SECRET_ACCESS_KEY`` and optionally ``AWS_SESSION_TOKEN``; without them boto3's default chain
applies (environment, shared config, instance or task role).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.sdk import ActionContext, ActionError

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

REGION = "AWS_REGION"
ENDPOINT_URL = "AWS_ENDPOINT_URL"
PROFILE = "AWS_PROFILE"
ACCESS_KEY_ID = "AWS_ACCESS_KEY_ID"
SECRET_ACCESS_KEY = "AWS_SECRET_ACCESS_KEY"
SESSION_TOKEN = "AWS_SESSION_TOKEN"

#: Declared as optional secrets of every action: boto3's default chain is the fallback.
SECRETS: tuple[str, ...] = (ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN)
DEFAULT_REGION = "us-east-1"


class NotConfigured(ActionError):
    """The AWS connection is missing or wrong; another attempt will not help."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type="NotConfigured", retryable=False)


@dataclass(frozen=True)
class AwsSettings:
    """Everything needed to build an IAM client; ``repr`` never shows credentials."""

    region: str = DEFAULT_REGION
    endpoint_url: str | None = None
    profile: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)

    def cache_key(self) -> str:
        """A digest that differs when any detail differs (so secrets are not kept as dict keys)."""
        parts = (
            self.region,
            self.endpoint_url,
            self.profile,
            self.access_key_id,
            self.secret_access_key,
            self.session_token,
        )
        return hashlib.sha256("\0".join(p or "" for p in parts).encode()).hexdigest()


def settings_from_context(ctx: ActionContext) -> AwsSettings:
    """Resolve the connection for one attempt.

    Raises:
        NotConfigured: only one half of the access key pair, or an endpoint that is not http(s).
    """
    key_id = ctx.optional_secret(ACCESS_KEY_ID)
    secret = ctx.optional_secret(SECRET_ACCESS_KEY)
    if (key_id is None) != (secret is None):
        raise NotConfigured(f"set both {ACCESS_KEY_ID} and {SECRET_ACCESS_KEY}, or neither")
    endpoint = ctx.setting(ENDPOINT_URL)
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise NotConfigured(f"{ENDPOINT_URL} must be an http(s) URL")
    return AwsSettings(
        region=ctx.setting(REGION) or ctx.setting("AWS_DEFAULT_REGION") or DEFAULT_REGION,
        endpoint_url=endpoint,
        profile=ctx.setting(PROFILE),
        access_key_id=key_id,
        secret_access_key=secret,
        session_token=ctx.optional_secret(SESSION_TOKEN),
    )


_clients: dict[str, IAMClient] = {}
_lock = threading.Lock()


def iam_client(settings: AwsSettings) -> IAMClient:
    """A cached IAM client for ``settings`` (boto3 clients are thread-safe and slow to build)."""
    key = settings.cache_key()
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _build(settings)
            _clients[key] = client
        return client


def _build(settings: AwsSettings) -> IAMClient:
    # Imported here: boto3 takes a noticeable time to import and most workers never call AWS.
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ProfileNotFound

    try:
        session = boto3.session.Session(
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            aws_session_token=settings.session_token,
            region_name=settings.region,
            profile_name=settings.profile,
        )
    except ProfileNotFound as exc:
        raise NotConfigured(f"{PROFILE}: {exc}") from None
    # The engine retries whole steps with its own policy; botocore's own retries stay short.
    config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)
    return session.client("iam", endpoint_url=settings.endpoint_url, config=config)
