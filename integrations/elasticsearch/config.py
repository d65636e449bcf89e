"""Where the cluster is and how to log in, resolved inside the action from configuration.

Settings (``ctx.settings`` first, then the environment): ``ELASTICSEARCH_URL``,
``ELASTICSEARCH_CA_FILE``, ``ELASTICSEARCH_TIMEOUT`` (seconds). Secrets (``ctx.optional_secret``):
``ELASTICSEARCH_API_KEY``, or ``ELASTICSEARCH_USERNAME`` with ``ELASTICSEARCH_PASSWORD``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

from engine.sdk import ActionContext
from integrations.elasticsearch.errors import NotConfigured

URL = "ELASTICSEARCH_URL"
CA_FILE = "ELASTICSEARCH_CA_FILE"
TIMEOUT = "ELASTICSEARCH_TIMEOUT"
API_KEY = "ELASTICSEARCH_API_KEY"
USERNAME = "ELASTICSEARCH_USERNAME"
PASSWORD = "ELASTICSEARCH_PASSWORD"

#: Declared as optional secrets of every action: any one way to log in is enough.
SECRETS: tuple[str, ...] = (API_KEY, USERNAME, PASSWORD)

DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything needed to build a client; ``repr`` never shows credentials."""

    url: str
    api_key: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def cache_key(self) -> str:
        """A digest that differs when any connection detail differs (secrets are not kept in it)."""
        parts = (self.url, self.api_key, self.username, self.password, self.ca_file, str(self.timeout))
        return hashlib.sha256("\0".join(p or "" for p in parts).encode()).hexdigest()


def settings_from_context(ctx: ActionContext) -> ConnectionSettings:
    """Resolve the connection for one action attempt.

    Raises:
        NotConfigured: no URL, a URL that is not http(s), half of a username/password pair,
            an unreadable CA file or a timeout that is not a positive number.
    """
    raw_url = ctx.setting(URL)
    if raw_url is None:
        raise NotConfigured(
            f"{URL} is not set; point it at the cluster (or run `fireline up` for a local one)"
        )
    parts = urlsplit(raw_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotConfigured(f"{URL} must look like https://host:9200, got scheme {parts.scheme!r}")
    username = ctx.optional_secret(USERNAME)
    password = ctx.optional_secret(PASSWORD)
    if parts.username and username is None:
        # Credentials written into the URL are moved out of it, so the URL can appear in messages.
        username, password = unquote(parts.username), unquote(parts.password or "")
    host_port = parts.netloc.rpartition("@")[2]
    url = urlunsplit((parts.scheme, host_port, parts.path.rstrip("/"), "", ""))
    if (username is None) != (password is None):
        raise NotConfigured(f"set both {USERNAME} and {PASSWORD}, or neither")
    ca_file = ctx.setting_file(CA_FILE)
    timeout = ctx.setting_seconds(TIMEOUT, DEFAULT_TIMEOUT)
    return ConnectionSettings(
        url=url,
        api_key=ctx.optional_secret(API_KEY),
        username=username,
        password=password,
        ca_file=ca_file,
        timeout=timeout,
    )
