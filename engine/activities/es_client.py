"""An Elasticsearch client for the engine's own indices (audit trail, full results)."""

from __future__ import annotations

from typing import Any

from engine.activities.secrets import resolve_secrets

CREDENTIALS = ("ELASTICSEARCH_API_KEY", "ELASTICSEARCH_USERNAME", "ELASTICSEARCH_PASSWORD")


def engine_client(url: str, ca_file: str | None = None) -> Any:
    """A client for ``url`` with the configured credentials (resolved here, in the worker)."""
    from elasticsearch import Elasticsearch

    secrets = resolve_secrets([], CREDENTIALS)
    options: dict[str, Any] = {"request_timeout": 10}
    if "ELASTICSEARCH_API_KEY" in secrets:
        options["api_key"] = secrets["ELASTICSEARCH_API_KEY"]
    elif "ELASTICSEARCH_USERNAME" in secrets:
        options["basic_auth"] = (secrets["ELASTICSEARCH_USERNAME"], secrets.get("ELASTICSEARCH_PASSWORD", ""))
    if ca_file:
        options["ca_certs"] = ca_file
    return Elasticsearch(url, **options)
