"""``review.compile``: the post-incident review of a run, from its audit trail and evidence."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from engine.sdk import ActionContext, ActionError, action
from integrations.elasticsearch.client import client_from_context
from integrations.elasticsearch.config import SECRETS as ES_SECRETS
from integrations.review import store
from integrations.review.analysis import compile_review
from integrations.review.html import render_html
from integrations.review.markdown import render_markdown
from integrations.review.models import ReviewParams
from integrations.review.slack_post import digest, post_review
from integrations.review.trail import read_trail
from integrations.slack.client import BOT_TOKEN


@action("review.compile", optional_secrets=[*ES_SECRETS, BOT_TOKEN], idempotent=True)
def compile_run(ctx: ActionContext, params: ReviewParams) -> dict[str, Any]:
    """Build the post-incident review of a run and keep it.

    Reads the run's audit trail (``fireline-audit-*``), works out the timeline, the time to
    detect / contain / notify, who decided what, the actions taken and what is still open, and
    writes Markdown and HTML to ``$FIRELINE_HOME/reviews/<run>.md|.html`` and a document with id
    ``<run>`` to ``fireline-reviews``. With ``channel`` (and ``thread_ts``) a digest goes to Slack;
    compiling again edits that message instead of posting another. Returns {review_id, index,
    markdown_path, html_path, summary, durations, slack, events}.
    """
    run_id = params.run_id or ctx.run_id
    es = client_from_context(ctx)
    events, unreadable = read_trail(es, run_id, params.audit_index)
    if not events:
        # Events reach the index in batches after the steps that produce them: a little later
        # the trail may be there, so the step's retry policy decides how long to wait.
        raise ActionError(f"no audit trail stored for run {run_id} yet", type="NoAuditTrail", retryable=True)
    review = compile_review(run_id, events, params, datetime.now(UTC))
    markdown, html = render_markdown(review), render_html(review)
    md_path, html_path = store.write_files(store.reviews_dir(ctx), run_id, markdown, html)
    store.ensure_index(es, params.index)
    earlier = store.previous(es, params.index, run_id)
    slack_ref = earlier.get("slack") if earlier else None
    store.save(es, params.index, review, markdown, html, slack_ref)
    if params.channel is not None:
        where = f"{md_path} (index {params.index}, id {run_id})"
        posted = post_review(ctx, params.channel, params.thread_ts, digest(review, where), slack_ref)
        if posted != slack_ref:
            store.save(es, params.index, review, markdown, html, posted)
        slack_ref = posted
    return {
        "review_id": run_id,
        "index": params.index,
        "markdown_path": str(md_path),
        "html_path": str(html_path),
        "summary": review.summary,
        "durations": review.durations.model_dump(),
        "slack": slack_ref,
        "events": len(events),
        "unreadable_events": unreadable,
    }
