"""``fireline audit verify RUN``: prove a run's trail is whole."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.activities.audit import AuditStore
from engine.cli.common import load_settings
from engine.errors import ConfigError
from engine.plan.audit import verify_chain
from engine.settings import Settings
from engine.stack.state import load_state_quietly

audit_app = typer.Typer(help="The hash-chained audit trail in Elasticsearch.", no_args_is_help=True)


def elasticsearch_url(settings: Settings) -> str:
    """The configured cluster, or the local stack's."""
    if settings.elasticsearch.url:
        return settings.elasticsearch.url
    state = load_state_quietly(settings.home.resolve())
    if state is None or not state.elasticsearch_url:
        raise ConfigError(
            "no Elasticsearch: set ELASTICSEARCH_URL or start the local stack with `fireline up`"
        )
    return state.elasticsearch_url


@audit_app.command()
def verify(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    config: Annotated[Path | None, typer.Option("--config", help="fireline.yaml to read.")] = None,
) -> None:
    """Check that every audit event of a run is present, in order and unaltered."""
    settings = load_settings(config)
    ca_file = str(settings.elasticsearch.ca_file) if settings.elasticsearch.ca_file else None
    store = AuditStore(elasticsearch_url(settings), ca_file=ca_file)
    report = verify_chain(run_id, store.read(run_id))
    if report.ok:
        typer.echo(f"ok: {report.events} audit events of {run_id} form an unbroken chain")
        if report.forks:
            typer.echo(
                f"{report.resets} reset(s): the run ended on a branch of {report.current} events; "
                f"{report.events - report.current} events are of the run(s) a reset replaced"
            )
        return
    where = f" at event {report.broken_at}" if report.broken_at else ""
    typer.echo(f"BROKEN{where}: {report.reason} ({report.events} events stored)")
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``fireline audit`` to ``app``."""
    app.add_typer(audit_app, name="audit")
