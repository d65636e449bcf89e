"""Elasticsearch actions: read SIEM data, triage Elastic Security alerts, write incident records.

The connection comes from configuration, never from step arguments (see
:mod:`integrations.elasticsearch.config`). Every failure is an :class:`engine.sdk.ActionError`
whose ``type`` names it and whose ``retryable`` says whether another attempt may help.
"""

from __future__ import annotations

from typing import Any

from engine.sdk import ActionContext, action
from integrations.elasticsearch import alerts, documents
from integrations.elasticsearch import search as searching
from integrations.elasticsearch.client import client_from_context
from integrations.elasticsearch.config import SECRETS
from integrations.elasticsearch.models import (
    AggregateParams,
    CountParams,
    GetAlertParams,
    IndexParams,
    SearchParams,
    SetAlertStatusParams,
)


@action("elasticsearch.search", optional_secrets=SECRETS, idempotent=True)
def search(ctx: ActionContext, params: SearchParams) -> dict[str, Any]:
    """Search with the query DSL; returns {total, hits, truncated}.

    ``size`` hits come back in one request. With ``max_hits`` (or a ``size`` above ``page_size``)
    the search pages through a point in time with ``search_after`` up to that cap, and
    ``truncated`` says whether more documents matched than were returned.
    """
    es = client_from_context(ctx)
    return searching.search(es, params, ctx.heartbeat).model_dump(mode="json")


@action("elasticsearch.count", optional_secrets=SECRETS, idempotent=True)
def count(ctx: ActionContext, params: CountParams) -> dict[str, Any]:
    """Count the documents that match a query; returns {count}."""
    return searching.count(client_from_context(ctx), params).model_dump(mode="json")


@action("elasticsearch.aggregate", optional_secrets=SECRETS, idempotent=True)
def aggregate(ctx: ActionContext, params: AggregateParams) -> dict[str, Any]:
    """Run aggregations (terms, date_histogram, cardinality, top_hits, stats); returns {total, aggregations}.

    The local server lacks composite and percentiles aggregations; playbooks that must run on it
    avoid them.
    """
    return searching.aggregate(client_from_context(ctx), params).model_dump(mode="json")


@action("elasticsearch.get_alert", optional_secrets=SECRETS, idempotent=True)
def get_alert(ctx: ActionContext, params: GetAlertParams) -> dict[str, Any]:
    """Read one Elastic Security alert by ``_id`` or ``kibana.alert.uuid``; returns the alert document."""
    return alerts.get_alert(client_from_context(ctx), params.index, params.id)


@action("elasticsearch.set_alert_status", optional_secrets=SECRETS, idempotent=True)
def set_alert_status(ctx: ActionContext, params: SetAlertStatusParams) -> dict[str, Any]:
    """Set alerts' ``kibana.alert.workflow_status`` (open | acknowledged | closed) with a note and run link.

    Returns {status, updated, unchanged, not_found}; alerts already in the requested state are left
    as they are, so repeating the step changes nothing.
    """
    es = client_from_context(ctx)
    return alerts.set_alert_status(es, params, run_id=ctx.run_id).model_dump(mode="json")


@action("elasticsearch.index", optional_secrets=SECRETS, idempotent=True)
def index(ctx: ActionContext, params: IndexParams) -> dict[str, Any]:
    """Write an incident or evidence document; returns {id, index, result}.

    Without ``id`` the document id is derived from the step's idempotency key: a retried step finds
    its document already written (result ``noop``) instead of writing a second one.
    """
    es = client_from_context(ctx)
    return documents.index_document(es, params, idempotency_key=ctx.idempotency_key).model_dump(mode="json")
