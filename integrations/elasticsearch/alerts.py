"""Read Elastic Security alerts and move them through open / acknowledged / closed.

Alerts are found by search, not by ``GET``: the default index is a pattern, and Kibana's alert
index is an alias over hidden backing indices that a ``GET`` by id cannot address.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import elasticsearch

from engine.sdk import ActionError
from integrations.elasticsearch.client import translated
from integrations.elasticsearch.errors import error_reason, from_status
from integrations.elasticsearch.models import SetAlertStatusParams, SetAlertStatusResult
from integrations.elasticsearch.search import to_hit

UUID_FIELD = "kibana.alert.uuid"
STATUS_FIELD = "kibana.alert.workflow_status"
STATUS_UPDATED_FIELD = "kibana.alert.workflow_status_updated_at"
NOTE_FIELD = "fireline.note"
RUN_URL_FIELD = "fireline.run_url"
RUN_ID_FIELD = "fireline.run_id"


def dotted(source: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` whether the document stores it flat (``"a.b": 1``) or nested."""
    if path in source:
        return source[path]
    head, _, rest = path.partition(".")
    inner = source.get(head)
    if rest and isinstance(inner, Mapping):
        return dotted(inner, rest)
    # Mixed forms exist too ({"kibana.alert": {"uuid": ...}}): try every flat prefix.
    parts = path.split(".")
    for cut in range(2, len(parts)):
        prefix = ".".join(parts[:cut])
        inner = source.get(prefix)
        if isinstance(inner, Mapping):
            return dotted(inner, ".".join(parts[cut:]))
    return None


def find_alerts(es: elasticsearch.Elasticsearch, index: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Raw hits of the alerts whose ``_id`` or ``kibana.alert.uuid`` is in ``ids``, by requested id."""
    query = {
        "bool": {
            # `.keyword`: indices with default dynamic mappings (not Kibana's) make the uuid text.
            "should": [
                {"ids": {"values": ids}},
                {"terms": {UUID_FIELD: ids}},
                {"terms": {f"{UUID_FIELD}.keyword": ids}},
            ],
            "minimum_should_match": 1,
        }
    }
    with translated(f"find alerts in {index}"):
        response = es.search(index=index, query=query, size=min(2 * len(ids), 10_000))
    wanted = set(ids)
    found: dict[str, dict[str, Any]] = {}
    for raw in response["hits"]["hits"]:
        uuid = dotted(raw.get("_source") or {}, UUID_FIELD)
        for key in (raw["_id"], uuid):
            if isinstance(key, str) and key in wanted:
                found.setdefault(key, raw)
    return found


def get_alert(es: elasticsearch.Elasticsearch, index: str, alert_id: str) -> dict[str, Any]:
    """The alert document (its source with ``_id`` and ``_index``)."""
    raw = find_alerts(es, index, [alert_id]).get(alert_id)
    if raw is None:
        raise ActionError(f"no alert {alert_id!r} in {index}", type="AlertNotFound", retryable=False)
    return to_hit(raw)


def _unchanged(source: Mapping[str, Any], params: SetAlertStatusParams) -> bool:
    return (
        dotted(source, STATUS_FIELD) == params.status.value
        and (params.note is None or dotted(source, NOTE_FIELD) == params.note)
        and (params.run_url is None or dotted(source, RUN_URL_FIELD) == params.run_url)
    )


def set_alert_status(
    es: elasticsearch.Elasticsearch, params: SetAlertStatusParams, *, run_id: str
) -> SetAlertStatusResult:
    """Set the workflow status (and note) of the alerts; alerts already in that state are left alone.

    Raises:
        ActionError: ``AlertNotFound`` when none of the ids exists; the bulk item's error when an
            update is refused.
    """
    ids = list(dict.fromkeys(params.ids))
    found = find_alerts(es, params.index, ids)
    if not found:
        raise ActionError(
            f"none of the alerts {ids} is in {params.index}", type="AlertNotFound", retryable=False
        )
    doc: dict[str, Any] = {
        # Flat dotted keys, as Kibana writes them: an update merges them into the source as-is.
        STATUS_FIELD: params.status.value,
        STATUS_UPDATED_FIELD: datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        RUN_ID_FIELD: run_id,
    }
    if params.note is not None:
        doc[NOTE_FIELD] = params.note
    if params.run_url is not None:
        doc[RUN_URL_FIELD] = params.run_url
    result = SetAlertStatusResult(status=params.status, updated=[], unchanged=[], not_found=[])
    # Requested ids by the document they name: an alert asked for by `_id` and by uuid is one update.
    pending: dict[tuple[str, str], list[str]] = {}
    for alert_id in ids:
        raw = found.get(alert_id)
        if raw is None:
            result.not_found.append(alert_id)
        elif _unchanged(raw.get("_source") or {}, params):
            result.unchanged.append(alert_id)
        else:
            pending.setdefault((raw["_index"], raw["_id"]), []).append(alert_id)
    if pending:
        _bulk_update(es, pending, doc, result, index=params.index)
    order = {alert_id: i for i, alert_id in enumerate(ids)}
    for group in (result.updated, result.unchanged, result.not_found):
        group.sort(key=order.__getitem__)
    return result


def _bulk_update(
    es: elasticsearch.Elasticsearch,
    pending: dict[tuple[str, str], list[str]],
    doc: dict[str, Any],
    result: SetAlertStatusResult,
    *,
    index: str,
) -> None:
    operations: list[dict[str, Any]] = []
    for target_index, doc_id in pending:
        operations += [
            {"update": {"_index": target_index, "_id": doc_id, "retry_on_conflict": 3}},
            {"doc": doc},
        ]
    operation = f"update alerts in {index}"
    with translated(operation):
        # refresh=true: the next step (or get_alert) must already see the new status.
        response = es.bulk(operations=operations, refresh=True)
    for alert_ids, item in zip(pending.values(), response["items"], strict=True):
        outcome = item.get("update", {})
        status = int(outcome.get("status", 200))
        if status < 300:
            result.updated += alert_ids
        elif status == 404:
            # Deleted between the search and the update.
            result.not_found += alert_ids
        else:
            es_type, reason = error_reason({"error": outcome.get("error")})
            raise from_status(status, es_type, reason, operation=f"{operation} ({', '.join(alert_ids)})")
