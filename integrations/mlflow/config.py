"""Where the MLflow tracking server is and how to log in, resolved inside the action.

Settings (``ctx.settings`` first, then the environment): ``MLFLOW_TRACKING_URI`` (an http(s) URL),
``MLFLOW_TRACKING_SERVER_CERT_PATH`` (CA bundle), ``MLFLOW_HTTP_REQUEST_TIMEOUT`` (seconds).
Secrets (``ctx.optional_secret``): ``MLFLOW_TRACKING_TOKEN`` (bearer), or
``MLFLOW_TRACKING_USERNAME`` with ``MLFLOW_TRACKING_PASSWORD`` (basic auth). The names are MLflow's
own, so a machine already set up for the MLflow client needs nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from engine.sdk import ActionContext, ActionError

URI = "MLFLOW_TRACKING_URI"
CERT_PATH = "MLFLOW_TRACKING_SERVER_CERT_PATH"
TIMEOUT = "MLFLOW_HTTP_REQUEST_TIMEOUT"
TOKEN = "MLFLOW_TRACKING_TOKEN"
USERNAME = "MLFLOW_TRACKING_USERNAME"
PASSWORD = "MLFLOW_TRACKING_PASSWORD"

#: Declared as optional secrets of every action: a server without auth needs none.
SECRETS: tuple[str, ...] = (TOKEN, USERNAME, PASSWORD)

DEFAULT_TIMEOUT = 30.0


class NotConfigured(ActionError):
    """The MLflow connection is missing or wrong; another attempt will not help."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type="NotConfigured", retryable=False)


@dataclass(frozen=True)
class MlflowSettings:
    """Everything needed to talk to the registry; ``repr`` never shows credentials."""

    url: str
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT


def settings_from_context(ctx: ActionContext) -> MlflowSettings:
    """Resolve the connection for one action attempt.

    Raises:
        NotConfigured: no URI, a URI that is not http(s), half a username/password pair, an
            unreadable CA file or a timeout that is not a positive number.
    """
    raw = ctx.setting(URI)
    if raw is None:
        raise NotConfigured(f"{URI} is not set; point it at the MLflow tracking server")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotConfigured(f"{URI} must be an http(s) URL of a tracking server, got scheme {parts.scheme!r}")
    # Credentials written into the URI are dropped from it so the URL can appear in messages.
    url = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path.rstrip("/"), "", ""))
    username = ctx.optional_secret(USERNAME)
    password = ctx.optional_secret(PASSWORD)
    if (username is None) != (password is None):
        raise NotConfigured(f"set both {USERNAME} and {PASSWORD}, or neither")
    ca_file = ctx.setting_file(CERT_PATH)
    timeout = ctx.setting_seconds(TIMEOUT, DEFAULT_TIMEOUT)
    return MlflowSettings(
        url=url,
        token=ctx.optional_secret(TOKEN),
        username=username,
        password=password,
        ca_file=ca_file,
        timeout=timeout,
    )
