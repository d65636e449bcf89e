"""Render an email from Jinja templates in ``playbooks/templates/email/``.

A message named ``incident-notice`` is three files: ``incident-notice.subject.j2``,
``incident-notice.txt.j2`` and, optionally, ``incident-notice.html.j2``. Templates are trusted
(they live in the repository); their variables are not (they may carry alert text), so they run
in Jinja's sandbox, undefined names are errors, the HTML part escapes every value, and the
subject is folded onto one line.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel

from engine.sdk import ActionContext, ActionError
from engine.sdk.templates import templates_dir as shared_templates_dir

SUBDIR = Path("templates") / "email"
MAX_PART_CHARS = 500_000
MAX_SUBJECT_CHARS = 500
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_PACKAGED = Path(__file__).resolve().parents[2] / "playbooks" / SUBDIR


class RenderedEmail(BaseModel):
    """A rendered message: one-line subject, plain text and an optional HTML alternative."""

    subject: str
    text: str
    html: str | None = None


def one_line(text: str, limit: int = MAX_SUBJECT_CHARS) -> str:
    """Collapse whitespace (line breaks included: no header injection) and cut at ``limit``."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@lru_cache(maxsize=8)
def _environment(directory: str) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def templates_dir(ctx: ActionContext | None = None) -> Path:
    """``EMAIL_TEMPLATES_DIR``, else ``<playbooks dir>/templates/email``, else the packaged folder."""
    return shared_templates_dir("email", _PACKAGED, ctx.settings if ctx is not None else None)


def render_email(name: str, variables: dict[str, Any], directory: Path) -> RenderedEmail:
    """Render the message ``name`` with ``variables``.

    Raises:
        ActionError: (not retryable) a bad name, a missing subject or text template, a syntax error,
            an undefined variable, a sandbox violation or an oversized part.
    """
    if not NAME.match(name):
        raise ActionError(
            f"template name {name[:80]!r} must match [a-z0-9][a-z0-9_-]*",
            type="InvalidArguments",
            retryable=False,
        )
    env = _environment(str(directory))
    subject = _render(env, f"{name}.subject.j2", variables)
    text = _render(env, f"{name}.txt.j2", variables)
    html = _render(env, f"{name}.html.j2", variables)
    if subject is None or text is None:
        raise ActionError(
            f"email template {name!r} needs {name}.subject.j2 and {name}.txt.j2 in {directory}",
            type="TemplateNotFound",
            retryable=False,
        )
    return RenderedEmail(subject=one_line(subject), text=text, html=html)


def _render(env: SandboxedEnvironment, file: str, variables: dict[str, Any]) -> str | None:
    """Render one file; ``None`` when it does not exist."""
    try:
        output = env.get_template(file).render(**variables)
    except jinja2.TemplateNotFound as exc:
        if exc.name == file:
            return None
        raise ActionError(
            f"{file}: includes missing {exc.name!r}", type="TemplateError", retryable=False
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise ActionError(
            f"{file}:{exc.lineno}: {exc.message}", type="TemplateError", retryable=False
        ) from None
    except (jinja2.TemplateError, TypeError, ValueError) as exc:
        raise ActionError(f"{file}: {str(exc)[:300]}", type="TemplateError", retryable=False) from None
    if len(output) > MAX_PART_CHARS:
        raise ActionError(f"{file} produced {len(output)} characters", type="TemplateError", retryable=False)
    return output
