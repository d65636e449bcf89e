"""Sandboxed Jinja templating for playbooks: rendering, native values, limits, static analysis.

Plain Python with no Temporal import, deterministic and free of I/O, so the workflow
can run it inside its sandbox.
"""

from engine.errors import TemplateError, TemplateLimitExceeded
from engine.templating.analysis import Reference, references
from engine.templating.engine import TemplateEngine, is_template
from engine.templating.filters import add_days, add_hours, redact, sha256, to_json
from engine.templating.limits import Limits

__all__ = [
    "Limits",
    "Reference",
    "TemplateEngine",
    "TemplateError",
    "TemplateLimitExceeded",
    "add_days",
    "add_hours",
    "is_template",
    "redact",
    "references",
    "sha256",
    "to_json",
]
