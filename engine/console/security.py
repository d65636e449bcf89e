"""Security headers on every console response: a strict Content-Security-Policy and friends.

Scripts come only from the console's own static files (no inline script, no eval, no inline event
handlers). Styles allow ``'unsafe-inline'`` because Mermaid writes a ``<style>`` element into each
SVG it draws; nothing the console renders from run data is ever placed in a style.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)

HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
#: Static files carry a version in their URL, so they may be kept for a day.
STATIC_CACHE = "public, max-age=86400"


class SecurityHeaders:
    """ASGI middleware: add :data:`HEADERS`; pages are never cached, static files are."""

    def __init__(self, app: ASGIApp, static_prefix: str = "/static/") -> None:
        self.app = app
        self.static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        root = str(scope.get("root_path", ""))
        static = path.removeprefix(root).startswith(self.static_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                headers["cache-control"] = STATIC_CACHE if static else "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
