"""Typed parameters and results of the Elasticsearch actions."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

#: Where Elastic Security keeps its alerts (an alias per Kibana space).
SECURITY_ALERTS_PATTERN = ".alerts-security.alerts-*"

#: The hard ceiling of ``max_hits``: deeper exports belong in a snapshot, not in a playbook step.
MAX_HITS_CEILING = 100_000

#: Elasticsearch refuses ``from + size`` beyond this on one request (``index.max_result_window``).
MAX_RESULT_WINDOW = 10_000

_FORBIDDEN_INDEX_CHARS = re.compile(r'[\s"\\/?<>|#]')


def _check_index_pattern(value: str) -> str:
    if _FORBIDDEN_INDEX_CHARS.search(value):
        raise ValueError('an index name or pattern may not contain whitespace or any of " \\ / ? < > | #')
    if any(not part for part in value.split(",")):
        raise ValueError("an empty index name in the comma-separated list")
    return value


def _check_concrete_index(value: str) -> str:
    _check_index_pattern(value)
    if "*" in value or "," in value:
        raise ValueError("documents are written to one concrete index: no '*' and no ','")
    if value != value.lower():
        raise ValueError("Elasticsearch index names are lower case")
    return value


def _check_query(value: dict[str, Any] | None) -> dict[str, Any] | None:
    # A query clause has exactly one top-level key (``bool``, ``term``, ...); catching this here
    # turns a confusing 400 from the cluster into a validation error on the playbook.
    if value is not None and len(value) != 1:
        raise ValueError("a query has exactly one top-level clause, e.g. {bool: {...}} or {term: {...}}")
    return value


IndexPattern = Annotated[str, Field(min_length=1, max_length=4096), AfterValidator(_check_index_pattern)]
ConcreteIndex = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_check_concrete_index)]
Query = Annotated[dict[str, Any] | None, AfterValidator(_check_query)]
DocId = Annotated[str, Field(min_length=1, max_length=512)]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SearchParams(_Params):
    """Parameters of ``elasticsearch.search``."""

    index: IndexPattern = Field(description="Index, alias, data stream or pattern, e.g. logs-model-gateway-*")
    query: Query = Field(None, description="Query DSL clause; all documents when omitted")
    size: int = Field(10, ge=0, le=MAX_RESULT_WINDOW, description="Hits to return")
    sort: list[dict[str, Any] | str] | None = Field(
        None, description="Sort clauses, e.g. [{'@timestamp': 'desc'}]"
    )
    source: bool | list[str] = Field(
        True, alias="_source", description="Return the document source (true/false) or only these fields"
    )
    fields: list[str] | None = Field(None, description="Fields to return under each hit's `fields`")
    max_hits: int | None = Field(
        None,
        ge=1,
        le=MAX_HITS_CEILING,
        description="Collect up to this many hits (beyond 10000 if needed) by paging; replaces `size`",
    )
    page_size: int = Field(1000, ge=1, le=MAX_RESULT_WINDOW, description="Hits per request when paging")
    keep_alive: str = Field("2m", pattern=r"^[1-9][0-9]*(ms|s|m|h)$", description="Point-in-time keep-alive")

    @property
    def limit(self) -> int:
        """How many hits the caller wants in total."""
        return self.max_hits if self.max_hits is not None else self.size


class SearchResult(BaseModel):
    """What ``elasticsearch.search`` returns."""

    total: int = Field(description="Documents that match the query")
    hits: list[dict[str, Any]] = Field(description="Each hit's source with `_id` and `_index`")
    truncated: bool = Field(description="True when fewer hits are returned than matched")


class CountParams(_Params):
    """Parameters of ``elasticsearch.count``."""

    index: IndexPattern
    query: Query = None


class CountResult(BaseModel):
    """What ``elasticsearch.count`` returns."""

    count: int


class AggregateParams(_Params):
    """Parameters of ``elasticsearch.aggregate``.

    ``aggs`` is Elasticsearch's aggregation DSL (terms, date_histogram, cardinality, top_hits, stats,
    filter, avg, ...). The local server lacks composite and percentiles aggregations.
    """

    index: IndexPattern
    query: Query = None
    aggs: dict[str, dict[str, Any]] = Field(min_length=1, description="Named aggregations")


class AggregateResult(BaseModel):
    """What ``elasticsearch.aggregate`` returns: the response's aggregations untouched."""

    total: int
    aggregations: dict[str, Any]


class GetAlertParams(_Params):
    """Parameters of ``elasticsearch.get_alert``."""

    id: DocId = Field(description="The alert's `_id` or `kibana.alert.uuid`")
    index: IndexPattern = SECURITY_ALERTS_PATTERN


class AlertWorkflowStatus(StrEnum):
    """Elastic Security's triage states (``kibana.alert.workflow_status``)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


class SetAlertStatusParams(_Params):
    """Parameters of ``elasticsearch.set_alert_status``."""

    ids: list[DocId] = Field(
        min_length=1, max_length=1000, description="Alert `_id`s or `kibana.alert.uuid`s"
    )
    status: AlertWorkflowStatus
    note: str | None = Field(None, max_length=10_000, description="Why; shown beside the alert")
    run_url: str | None = Field(None, max_length=2048, description="Link to the fireline run")
    index: IndexPattern = SECURITY_ALERTS_PATTERN


class SetAlertStatusResult(BaseModel):
    """What ``elasticsearch.set_alert_status`` returns (ids as given by the caller)."""

    status: AlertWorkflowStatus
    updated: list[str]
    unchanged: list[str]
    not_found: list[str]


class RefreshPolicy(StrEnum):
    """When a write becomes visible to search."""

    TRUE = "true"
    FALSE = "false"
    WAIT_FOR = "wait_for"


class IndexParams(_Params):
    """Parameters of ``elasticsearch.index``."""

    index: ConcreteIndex = Field(description="Where to write, e.g. fireline-incidents")
    document: dict[str, Any] = Field(description="The document; `@timestamp` is added when missing")
    id: DocId | None = Field(
        None,
        description="Document id; by default derived from the step's idempotency key, so retries are safe",
    )
    refresh: RefreshPolicy = RefreshPolicy.WAIT_FOR
    add_timestamp: bool = Field(True, description="Add `@timestamp` (now, UTC) when the document has none")


class IndexResult(BaseModel):
    """What ``elasticsearch.index`` returns."""

    id: str
    index: str
    result: str = Field(description="created | updated | noop (already written by an earlier attempt)")
