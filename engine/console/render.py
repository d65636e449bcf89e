"""Jinja2 templates of the console: autoescape on everywhere, strict undefined names.

Run and alert data only ever enter templates as values, never as template source.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse

from engine.access import Principal
from engine.console import display
from engine.console.graph import state_class

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
#: Ids made of these characters need no quoting in a URL path (fireline's own run ids are).
_URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")


def _static_version() -> str:
    """A short digest of the static files, so their URLs change when they do."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(str(path.stat().st_size).encode())
            digest.update(str(path.stat().st_mtime_ns).encode())
    return digest.hexdigest()[:10]


class Templates:
    """Renders pages with the context every page shares."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES_DIR),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        version = _static_version()
        self.env.filters.update(
            age=display.age,
            when=display.when,
            pretty=display.pretty_json,
            clip=display.clip,
            state_class=lambda s: state_class(s),
        )
        self.env.globals.update(
            prefix=prefix,
            static=lambda name: f"{prefix}/static/{name}?v={version}",
            run_url=self.run_url,
            query=lambda params: urlencode(params),
            duration=display.duration,
        )

    def run_url(self, run_id: str, suffix: str = "") -> str:
        """The console page of a run."""
        quoted = run_id if _URL_SAFE.match(run_id) else quote(run_id, safe="")
        return f"{self.prefix}/runs/{quoted}{suffix}"

    def render(self, name: str, context: dict[str, Any]) -> str:
        """``name`` rendered with ``context``."""
        return self.env.get_template(name).render(context)

    def page(
        self,
        name: str,
        principal: Principal | None,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """A whole page; ``principal`` fills the header (user, role, sign-out form)."""
        body = self.render(name, {"principal": principal, **context})
        return HTMLResponse(body, status_code=status_code, headers=headers)
