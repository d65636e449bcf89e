"""The responder console: incidents, timelines, approvals, reviews and the playbook catalog.

Server-rendered HTML (Jinja2, autoescape on) with a little progressive enhancement; mounted into
the receiver by :func:`console_routes`.
"""

from engine.console.app import build_console, console_app, console_routes
from engine.console.source import ClientFactory, RunSource, TemporalRunSource

__all__ = [
    "ClientFactory",
    "RunSource",
    "TemporalRunSource",
    "build_console",
    "console_app",
    "console_routes",
]
