"""``fireline config check``: validate fireline.yaml and what it points at."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.config_check import check_config

config_app = typer.Typer(help="Configuration (fireline.yaml and environment).", no_args_is_help=True)


@config_app.command()
def check(
    config: Annotated[Path | None, typer.Option("--config", help="fireline.yaml to check.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report.")] = False,
) -> None:
    """Validate the configuration, its files and playbooks; exit 1 with every problem named."""
    report = check_config(config)
    typer.echo(report.model_dump_json(indent=2) if as_json else report.render())
    raise typer.Exit(0 if report.ok else 1)


def doctor(
    config: Annotated[Path | None, typer.Option("--config", help="fireline.yaml to read.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report.")] = False,
) -> None:
    """Check configuration, connectivity and permissions of every configured system."""
    from engine.cli.common import run_async
    from engine.doctor import diagnose

    report = run_async(diagnose(config))
    typer.echo(report.model_dump_json(indent=2) if as_json else report.render())
    raise typer.Exit(0 if report.ok else 1)


def register(app: typer.Typer) -> None:
    """Add ``fireline config`` and ``fireline doctor`` to ``app``."""
    app.add_typer(config_app, name="config")
    app.command()(doctor)
