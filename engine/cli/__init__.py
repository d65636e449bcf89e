"""The ``fireline`` command line."""

from __future__ import annotations

import os
import sys

import typer

from engine.cli import audit_cmds, authoring, config_cmds, ingest_cmds, runs, security_cmds, stack_cmds
from engine.errors import FirelineError

app = typer.Typer(
    name="fireline",
    help="Incident response for AI systems: YAML playbooks run as durable Temporal workflows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
authoring.register(app)
runs.register(app)
stack_cmds.register(app)
audit_cmds.register(app)
ingest_cmds.register(app)
config_cmds.register(app)
security_cmds.register(app)


def main() -> None:
    """Entry point; a FirelineError becomes one clear line and exit code 1."""
    code = 0
    try:
        app()
    except FirelineError as exc:
        typer.echo(f"error: {exc}", err=True)
        code = 1
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    # The Temporal SDK's native threads can crash a normal interpreter shutdown after the work
    # is done (PyGILState_Release during finalization); leave without running finalizers.
    os._exit(code)
