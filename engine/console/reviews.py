"""The post-incident review of a run: rendered as a page, or downloaded as Markdown.

Reviews are files ``<reviews dir>/<run id>.md`` (``$FIRELINE_HOME/reviews`` by default) written by
the review step. The run id is checked before it becomes a file name, and the file must lie inside
the reviews folder, so no path trick reaches another file.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from engine.access import Principal
from engine.console import display
from engine.console.context import RUN_ID, Console

MAX_REVIEW_BYTES = 5_000_000


def review_file(folder: Path, run_id: str) -> Path | None:
    """The review of ``run_id`` when one was written."""
    if not RUN_ID.match(run_id):
        return None
    root = folder.resolve()
    path = (root / f"{run_id}.md").resolve()
    if path.parent != root or not path.is_file():
        return None
    return path


def read_review(folder: Path, run_id: str) -> str | None:
    """The review's text (invalid UTF-8 replaced), or None."""
    path = review_file(folder, run_id)
    if path is None:
        return None
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_REVIEW_BYTES + 1)
    except OSError:
        return None
    text = raw[:MAX_REVIEW_BYTES].decode("utf-8", "replace")
    return text + "\n\n…(truncated)\n" if len(raw) > MAX_REVIEW_BYTES else text


async def review_page(console: Console, request: Request, principal: Principal) -> Response:
    """``GET /console/runs/<id>/review``."""
    run_id = request.path_params["run_id"]
    text = read_review(console.reviews_dir, run_id)
    if text is None:
        return console.not_found(principal, "no review has been written for this run yet")
    return console.templates.page("review.html", principal, run_id=run_id, review_html=display.markdown(text))


async def review_download(console: Console, request: Request, principal: Principal) -> Response:
    """``GET /console/runs/<id>/review.md``: the Markdown as an attachment."""
    run_id = request.path_params["run_id"]
    text = read_review(console.reviews_dir, run_id)
    if text is None:
        return console.not_found(principal, "no review has been written for this run yet")
    # RUN_ID allows no quote, backslash or control character, so the header cannot be split.
    disposition = f'attachment; filename="{run_id}-review.md"'
    return Response(
        text.encode("utf-8"),
        media_type="text/markdown; charset=utf-8",
        headers={"content-disposition": disposition},
    )
