"""Searches, counts and aggregations, with deep paging through a point in time.

A search that wants more hits than one page holds first asks for one page; only when more
documents match does it open a point in time and walk it with ``search_after``. Small searches
thus cost one request, and a pattern that matches no index never needs a point in time (the
local server refuses to open one on such a pattern, where Elasticsearch would not).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import elasticsearch

from integrations.elasticsearch.client import translated
from integrations.elasticsearch.models import (
    AggregateParams,
    AggregateResult,
    CountParams,
    CountResult,
    SearchParams,
    SearchResult,
)

Heartbeat = Callable[..., None]

#: Appended to every paged sort: ``search_after`` needs a total order, and this one is cheap.
_TIEBREAKER: dict[str, Any] = {"_shard_doc": "asc"}


def to_hit(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A hit as playbooks see it: the source, ``fields`` when asked for, ``_id`` and ``_index``."""
    hit: dict[str, Any] = dict(raw.get("_source") or {})
    if "fields" in raw:
        hit["fields"] = raw["fields"]
    # Set last, so a document's own `_id` key (it is attacker-controlled data) cannot pose as ours.
    hit["_id"] = raw.get("_id")
    hit["_index"] = raw.get("_index")
    return hit


def _total(response: Mapping[str, Any]) -> int:
    total = response["hits"].get("total", 0)
    return int(total["value"] if isinstance(total, Mapping) else total)


def _body(params: SearchParams) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if params.query is not None:
        body["query"] = params.query
    if params.source is not True:
        body["source"] = params.source
    if params.fields is not None:
        body["fields"] = params.fields
    return body


def _paged_sort(sort: list[dict[str, Any] | str] | None) -> list[dict[str, Any] | str]:
    clauses: list[dict[str, Any] | str] = list(sort) if sort else [{"_score": "desc"}]
    mentions = {c if isinstance(c, str) else next(iter(c), "") for c in clauses}
    if "_shard_doc" not in mentions:
        clauses.append(_TIEBREAKER)
    return clauses


def search(es: elasticsearch.Elasticsearch, params: SearchParams, heartbeat: Heartbeat) -> SearchResult:
    """Run ``params`` and return up to ``params.limit`` hits with the exact total."""
    body = _body(params)
    with translated(f"search {params.index}"):
        response = es.search(
            index=params.index,
            size=min(params.limit, params.page_size),
            sort=params.sort,
            track_total_hits=True,
            **body,
        )
    total = _total(response.body)
    hits = [to_hit(h) for h in response["hits"]["hits"]]
    if params.limit > params.page_size and total > len(hits):
        total, hits = _search_deep(es, params, body, heartbeat)
    return SearchResult(total=total, hits=hits, truncated=len(hits) < total)


def _search_deep(
    es: elasticsearch.Elasticsearch, params: SearchParams, body: dict[str, Any], heartbeat: Heartbeat
) -> tuple[int, list[dict[str, Any]]]:
    """Page through a point in time until ``params.limit`` hits or the end of the results."""
    operation = f"search {params.index} (point in time)"
    with translated(operation):
        pit_id: str = es.open_point_in_time(index=params.index, keep_alive=params.keep_alive)["id"]
    sort = _paged_sort(params.sort)
    hits: list[dict[str, Any]] = []
    total: int | None = None
    search_after: list[Any] | None = None
    try:
        while len(hits) < params.limit:
            size = min(params.page_size, params.limit - len(hits))
            with translated(operation):
                response = es.search(
                    pit={"id": pit_id, "keep_alive": params.keep_alive},
                    size=size,
                    sort=sort,
                    search_after=search_after,
                    # Only the first page counts: counting again on every page costs the cluster.
                    track_total_hits=total is None,
                    **body,
                )
            pit_id = response.get("pit_id", pit_id)
            if total is None:
                total = _total(response.body)
            page = response["hits"]["hits"]
            hits.extend(to_hit(h) for h in page)
            heartbeat({"hits": len(hits)})
            if len(page) < size:
                break
            search_after = page[-1]["sort"]
    finally:
        # A point in time left open only holds resources until its keep-alive ends.
        with contextlib.suppress(elasticsearch.ApiError, elasticsearch.TransportError):
            es.close_point_in_time(id=pit_id)
    return (total if total is not None else len(hits)), hits


def count(es: elasticsearch.Elasticsearch, params: CountParams) -> CountResult:
    """Count the documents that match ``params.query``."""
    with translated(f"count {params.index}"):
        response = es.count(index=params.index, query=params.query)
    return CountResult(count=int(response["count"]))


def aggregate(es: elasticsearch.Elasticsearch, params: AggregateParams) -> AggregateResult:
    """Run aggregations over the documents that match ``params.query``; no hits are fetched."""
    with translated(f"aggregate {params.index}"):
        response = es.search(
            index=params.index,
            size=0,
            query=params.query,
            aggs=params.aggs,
            track_total_hits=True,
        )
    return AggregateResult(total=_total(response.body), aggregations=dict(response.get("aggregations") or {}))
