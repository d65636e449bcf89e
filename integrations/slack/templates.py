"""Render Block Kit messages from Jinja templates in ``playbooks/templates/slack/*.j2``.

A template is trusted (it lives in the repository), its variables are not: they come from the
playbook and may carry alert text. Every ``{{ value }}`` is therefore escaped twice on output:
for Slack's mrkdwn (``&``, ``<``, ``>``: no ``@channel`` pings or links from an alert) and for
JSON string content (quotes, backslashes, newlines cannot break the document). Write values
inside JSON strings: ``"text": "Model {{ model }}"``. ``tojson`` emits a whole JSON value,
``mention`` turns ``user:U1``/``group:S1`` into a Slack mention, ``url`` passes an http(s) link
through for a ``url`` field.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup
from pydantic import BaseModel, Field

from engine.sdk import ActionContext, ActionError
from engine.sdk.templates import templates_dir as shared_templates_dir
from integrations.slack.blocks import escape, mention

SUBDIR = Path("templates") / "slack"
MAX_OUTPUT_CHARS = 100_000
MAX_BLOCKS = 50
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PACKAGED = Path(__file__).resolve().parents[2] / "playbooks" / SUBDIR


class RenderedMessage(BaseModel):
    """A template's output: Block Kit blocks and the notification fallback text."""

    blocks: list[dict[str, Any]] = Field(default_factory=list)
    text: str | None = None


def _escape_value(value: Any) -> Any:
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {str(k): _escape_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escape_value(v) for v in value]
    return value


def _finalize(value: Any) -> Any:
    """Escape every printed value unless a filter already made it safe."""
    if isinstance(value, Markup):
        return value
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return json.dumps(escape(text), ensure_ascii=False)[1:-1]


def _tojson(value: Any) -> Markup:
    return Markup(json.dumps(_escape_value(value), ensure_ascii=False, default=str))


def _mention(value: Any) -> Markup:
    return Markup(json.dumps(mention(str(value)), ensure_ascii=False)[1:-1])


def _url(value: Any) -> Markup:
    """A link target: JSON-escaped only (mrkdwn escaping would break query strings); http(s) only."""
    text = str(value)
    if not text.startswith(("https://", "http://")):
        return Markup("")
    return Markup(json.dumps(text, ensure_ascii=False)[1:-1])


@lru_cache(maxsize=8)
def _environment(directory: str) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tojson"] = _tojson
    env.filters["mention"] = _mention
    env.filters["url"] = _url
    return env


def templates_dir(ctx: ActionContext | None = None) -> Path:
    """Where templates live: ``SLACK_TEMPLATES_DIR``, else ``<playbooks dir>/templates/slack``."""
    return shared_templates_dir("slack", _PACKAGED, ctx.settings if ctx is not None else None)


def render_template(name: str, variables: dict[str, Any], directory: Path) -> RenderedMessage:
    """Render template ``name`` (``<name>.j2``) with ``variables`` into blocks and text.

    Raises:
        ActionError: (not retryable) unknown or broken template, undefined variable, output that
            is not Block Kit JSON.
    """
    if not _NAME.match(name):
        raise ActionError(
            f"template name {name[:80]!r} must match [a-z0-9][a-z0-9_-]*",
            type="InvalidArguments",
            retryable=False,
        )
    try:
        output = _environment(str(directory)).get_template(f"{name}.j2").render(**variables)
    except jinja2.TemplateNotFound:
        raise ActionError(
            f"no Slack template {name!r} in {directory}", type="TemplateNotFound", retryable=False
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise ActionError(
            f"template {name}.j2:{exc.lineno}: {exc.message}", type="TemplateError", retryable=False
        ) from None
    except (jinja2.TemplateError, TypeError, ValueError) as exc:
        raise ActionError(
            f"template {name}.j2: {str(exc)[:300]}", type="TemplateError", retryable=False
        ) from None
    if len(output) > MAX_OUTPUT_CHARS:
        raise ActionError(
            f"template {name}.j2 produced {len(output)} characters", type="TemplateError", retryable=False
        )
    return _parse(name, output)


def _parse(name: str, output: str) -> RenderedMessage:
    try:
        data = json.loads(output)
    except json.JSONDecodeError as exc:
        raise ActionError(
            f"template {name}.j2 did not produce JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            type="TemplateError",
            retryable=False,
        ) from None
    if isinstance(data, list):
        data = {"blocks": data}
    if not isinstance(data, dict) or not isinstance(data.get("blocks", []), list):
        raise ActionError(
            f"template {name}.j2 must produce a list of blocks or {{text, blocks}}",
            type="TemplateError",
            retryable=False,
        )
    blocks = data.get("blocks", [])
    if len(blocks) > MAX_BLOCKS or not all(isinstance(b, dict) and "type" in b for b in blocks):
        raise ActionError(
            f"template {name}.j2: blocks must be at most {MAX_BLOCKS} objects with a type",
            type="TemplateError",
            retryable=False,
        )
    text = data.get("text")
    return RenderedMessage(blocks=blocks, text=str(text) if text is not None else None)
