"""Settings and named secrets of the HTTP actions, resolved inside the action.

Settings (``ctx.settings`` first, then the environment): ``HTTP_ALLOWED_HOSTS`` (comma-separated
host globs such as ``hooks.example.com,*.internal``; when set, no other host is called) and
``HTTP_CA_FILE`` (a CA bundle for private TLS endpoints).

Playbooks name the secrets they want in headers or for signing (``headers_from_secret``,
``signing_secret``). Only names starting with ``HTTP_`` or ``WEBHOOK_`` are accepted, so a playbook
cannot send another integration's credentials (``LITELLM_MASTER_KEY``, ``AWS_*``) to a URL.
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from engine.sdk import ActionContext, ActionError

ALLOWED_HOSTS = "HTTP_ALLOWED_HOSTS"
CA_FILE = "HTTP_CA_FILE"
SECRET_NAME = re.compile(r"^(HTTP|WEBHOOK)_[A-Z0-9_]{1,100}$")
SECRET_NAME_HINT = "secret names used by HTTP actions look like HTTP_<NAME> or WEBHOOK_<NAME>"


def check_secret_name(name: str) -> str:
    """Validate a secret name given in a playbook (used by the parameter models)."""
    if not SECRET_NAME.match(name):
        raise ValueError(f"{name[:60]!r}: {SECRET_NAME_HINT}")
    return name


def named_secret(ctx: ActionContext, name: str) -> str:
    """The value of the playbook-named secret ``name``.

    The engine resolves the secrets an action declares; names chosen per step cannot be declared
    up front, so after the context this looks at ``$NAME`` and the file named by ``$NAME_FILE``
    (the same places the engine looks), and only for names :data:`SECRET_NAME` accepts.

    Raises:
        ActionError: ``SecretMissing`` (not retryable) when the secret is configured nowhere.
    """
    check_secret_name(name)
    value = ctx.optional_secret(name) or os.environ.get(name)
    file_name = os.environ.get(f"{name}_FILE")
    if not value and file_name:
        try:
            value = Path(file_name).read_text(encoding="utf-8").strip()
        except OSError:
            value = None
    if not value:
        raise ActionError(
            f"secret {name} is not configured for {ctx.step_path}: set ${name} or ${name}_FILE",
            type="SecretMissing",
            retryable=False,
        )
    return value


def check_host_allowed(ctx: ActionContext, url: str) -> None:
    """Refuse a URL whose host is outside ``HTTP_ALLOWED_HOSTS`` (when that setting is present)."""
    allowed = ctx.setting(ALLOWED_HOSTS)
    if allowed is None:
        return
    host = (urlsplit(url).hostname or "").lower()
    patterns = [p.strip().lower() for p in allowed.split(",") if p.strip()]
    if not any(fnmatch.fnmatchcase(host, pattern) for pattern in patterns):
        raise ActionError(f"host {host!r} is not in {ALLOWED_HOSTS}", type="HostNotAllowed", retryable=False)


def ca_file(ctx: ActionContext) -> str | None:
    """``HTTP_CA_FILE`` when set; a path that is not a file is a configuration error."""
    return ctx.setting_file(CA_FILE)
