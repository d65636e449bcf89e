"""One cached client per connection in the worker process, and error translation around calls."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import elastic_transport
import elasticsearch
from elastic_transport.client_utils import DEFAULT

from engine.sdk import ActionContext
from integrations.elasticsearch.config import ConnectionSettings, settings_from_context
from integrations.elasticsearch.errors import translate

_clients: dict[str, elasticsearch.Elasticsearch] = {}
_lock = threading.Lock()


def build_client(settings: ConnectionSettings) -> elasticsearch.Elasticsearch:
    """A new client for ``settings``.

    The client itself never retries: the engine retries the whole step with backoff, and two
    layers of retries would multiply the waiting.
    """
    basic_auth = (
        (settings.username, settings.password)
        if settings.username is not None and settings.password is not None
        else None
    )
    return elasticsearch.Elasticsearch(
        settings.url,
        api_key=settings.api_key,
        basic_auth=basic_auth,
        request_timeout=settings.timeout,
        max_retries=0,
        retry_on_timeout=False,
        ca_certs=settings.ca_file or DEFAULT,
    )


def client_for(settings: ConnectionSettings) -> elasticsearch.Elasticsearch:
    """The process-wide client for ``settings`` (thread-safe; created on first use)."""
    key = settings.cache_key()
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = build_client(settings)
        return client


def client_from_context(ctx: ActionContext) -> elasticsearch.Elasticsearch:
    """The client for the connection configured for this action attempt."""
    return client_for(settings_from_context(ctx))


def close_clients() -> None:
    """Close and forget every cached client (worker shutdown, tests)."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


@contextmanager
def translated(operation: str) -> Iterator[None]:
    """Re-raise the client's errors inside the block as :class:`engine.sdk.ActionError`."""
    try:
        yield
    except (elasticsearch.ApiError, elastic_transport.TransportError) as exc:
        raise translate(exc, operation=operation) from exc
