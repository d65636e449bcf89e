"""Keep a review: one document per run in Elasticsearch and files under ``$FIRELINE_HOME/reviews/``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import elasticsearch

from engine.sdk import ActionContext
from integrations.elasticsearch.client import translated
from integrations.review.models import Review

HOME = "FIRELINE_HOME"
DEFAULT_HOME = ".fireline"
_KEYWORD = {"type": "keyword"}
#: The rendered text is stored, not indexed: only the facts are searchable.
MAPPING: dict[str, Any] = {
    "properties": {
        "@timestamp": {"type": "date"},
        "run_id": _KEYWORD,
        "playbook": _KEYWORD,
        "outcome": _KEYWORD,
        "title": {"type": "text"},
        "summary": {"type": "text"},
        "started_at": {"type": "date"},
        "finished_at": {"type": "date"},
        "durations": {
            "properties": {k: {"type": "float"} for k in ("detect_s", "contain_s", "notify_s", "total_s")}
        },
        "classification": {"properties": {"atlas": _KEYWORD, "owasp_llm": _KEYWORD}},
        "content": {"type": "object", "enabled": False},
        "slack": {"type": "object", "enabled": False},
    }
}


def reviews_dir(ctx: ActionContext) -> Path:
    """``$FIRELINE_HOME/reviews`` (settings first, then the environment, then ``.fireline``)."""
    home = ctx.settings.get(HOME) or ctx.settings.get("home") or os.environ.get(HOME) or DEFAULT_HOME
    return Path(str(home)) / "reviews"


def file_stem(run_id: str) -> str:
    """A file name for ``run_id`` that cannot leave the reviews folder."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", run_id).lstrip(".")
    return stem[:200] or "run"


def write_files(folder: Path, run_id: str, markdown: str, html: str) -> tuple[Path, Path]:
    """Write ``<run>.md`` and ``<run>.html`` atomically (a reader never sees half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / f"{file_stem(run_id)}.md", folder / f"{file_stem(run_id)}.html"
    for path, content in zip(paths, (markdown, html), strict=True):
        partial = path.with_suffix(path.suffix + ".tmp")
        partial.write_text(content, encoding="utf-8")
        partial.replace(path)
    return paths


def ensure_index(es: elasticsearch.Elasticsearch, index: str) -> None:
    """Create the reviews index with its mapping unless it exists."""
    with translated(f"prepare {index}"):
        if es.indices.exists(index=index):
            return
        try:
            es.indices.create(index=index, mappings=MAPPING)
        except elasticsearch.BadRequestError as exc:
            if "already_exists" not in str(exc) and "already exists" not in str(exc):
                raise


def previous(es: elasticsearch.Elasticsearch, index: str, run_id: str) -> dict[str, Any] | None:
    """The stored review of ``run_id`` (from an earlier attempt or run), if any."""
    with translated(f"read {index}"):
        try:
            found = es.get(index=index, id=run_id)
        except elasticsearch.NotFoundError:
            return None
    source = found.get("_source")
    return source if isinstance(source, dict) else None


def save(
    es: elasticsearch.Elasticsearch,
    index: str,
    review: Review,
    markdown: str,
    html: str,
    slack: dict[str, str] | None,
) -> None:
    """Write the review document under the run's id (a later compile replaces it)."""
    document = {
        "@timestamp": review.generated_at.isoformat(),
        "run_id": review.run_id,
        "playbook": review.playbook,
        "outcome": review.outcome,
        "title": review.title,
        "summary": review.summary,
        "started_at": review.started_at.isoformat() if review.started_at else None,
        "finished_at": review.finished_at.isoformat() if review.finished_at else None,
        "durations": review.durations.model_dump(),
        "classification": {g.framework: [t.id for t in g.ids] for g in review.classification},
        "content": {"markdown": markdown, "html": html},
        "slack": slack,
    }
    with translated(f"index into {index}"):
        es.index(index=index, id=review.run_id, document=document, refresh="wait_for")


def grouped(
    es: elasticsearch.Elasticsearch, index: str, framework: str, size: int = 100
) -> dict[str, list[str]]:
    """Stored reviews grouped by the ``framework`` (``atlas`` or ``owasp_llm``) ids: id → run ids."""
    if framework not in ("atlas", "owasp_llm"):
        raise ValueError(f"unknown framework {framework!r} (atlas or owasp_llm)")
    with translated(f"group {index} by {framework}"):
        found = es.search(
            index=index,
            size=0,
            aggs={
                "ids": {
                    "terms": {"field": f"classification.{framework}", "size": size},
                    "aggs": {"runs": {"terms": {"field": "run_id", "size": 1000}}},
                }
            },
        )
    buckets = found.get("aggregations", {}).get("ids", {}).get("buckets", [])
    return {str(b["key"]): sorted(str(r["key"]) for r in b["runs"]["buckets"]) for b in buckets}
