"""``fireline alerts`` and ``fireline schedules``: why alerts did (not) start runs, and scheduled hunts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from engine import client as fl
from engine.cli.common import load_settings, run_async
from engine.errors import ConfigError
from engine.ingest.alert_log import recent_alerts
from engine.ingest.config import webhook_secret
from engine.ingest.core import replay_dead_letter
from engine.ingest.dead_letters import list_dead_letters
from engine.ingest.hunts import HuntSchedule, list_hunt_schedules, pause_hunt, trigger_hunt, unpause_hunt
from engine.ingest.models import AlertLogEntry, AlertOutcome
from engine.ingest.sender import send_file
from engine.spec.catalog import load_catalog
from engine.stack.local import connect_args
from engine.stack.state import load_state_quietly

ConfigOption = Annotated[Path | None, typer.Option("--config", help="fireline.yaml to read.")]
alerts_app = typer.Typer(help="Recent alerts and what they started.", invoke_without_command=True)
schedules_app = typer.Typer(help="Scheduled hunts (Temporal Schedules).", invoke_without_command=True)


def _describe(entry: AlertLogEntry) -> str:
    if entry.playbooks:
        return "; ".join(
            f"{p.disposition.value} {p.playbook} {p.run_id or ''}".rstrip() for p in entry.playbooks
        )
    if entry.mismatches:
        name, why = next(iter(entry.mismatches.items()))
        return f"no playbook matched ({name}: {why})"
    return entry.reason or entry.status.value


@alerts_app.callback()
def alerts(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many.")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
    config: ConfigOption = None,
) -> None:
    """List recent alerts with the playbooks they matched, the run they joined, or why they were refused."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load_settings(config)
    entries = recent_alerts(settings.home.resolve(), limit)
    if as_json:
        typer.echo(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
        return
    if not entries:
        typer.echo("no alerts received yet")
    for entry in entries:
        when = entry.at.strftime("%Y-%m-%d %H:%M:%S")
        status = f"{entry.status.value}" + (f" {entry.http_status}" if entry.http_status else "")
        typer.echo(f"{when}  {entry.source:<12} {status:<14} {entry.title[:50]!r}  {_describe(entry)}")


@alerts_app.command()
def send(
    file: Annotated[Path, typer.Argument(help="JSON payload as the source would send it.")],
    source: Annotated[str, typer.Option(help="elastic, alertmanager or generic.")] = "generic",
    url: Annotated[str | None, typer.Option(help="Receiver URL (default: the local stack's).")] = None,
    config: ConfigOption = None,
) -> None:
    """Send an alert payload to the receiver, signed with the webhook secret."""
    settings = load_settings(config)
    home = settings.home.resolve()
    state = load_state_quietly(home)
    target = url or (state.receiver_url if state else None)
    if not target:
        raise ConfigError("no receiver URL: pass --url or start the local stack with `fireline up`")
    result = send_file(target, source, file, secret=webhook_secret(home))
    body = result.body if isinstance(result.body, str) else json.dumps(result.body)
    typer.echo(f"{result.status} {body[:2000]}")
    raise typer.Exit(0 if result.status < 300 else 1)


@alerts_app.command()
def replay(
    letter_id: Annotated[str, typer.Argument(help="Dead letter id (see `fireline alerts dead`).")],
    config: ConfigOption = None,
) -> None:
    """Replay an accepted alert that could not start its playbook, against the current catalog."""
    settings = load_settings(config)

    async def go() -> AlertOutcome:
        client = await fl.connect_configured(settings, connect_args(settings))
        return await replay_dead_letter(settings, client, load_catalog([settings.playbooks_dir]), letter_id)

    outcome = run_async(go())
    typer.echo(outcome.model_dump_json(indent=2))
    raise typer.Exit(0 if outcome.playbooks and all(p.run_id for p in outcome.playbooks) else 1)


@alerts_app.command()
def dead(config: ConfigOption = None) -> None:
    """List dead letters: accepted alerts that could not start, with the reason."""
    settings = load_settings(config)
    letters = list_dead_letters(settings.home.resolve())
    if not letters:
        typer.echo("no dead letters")
    for letter in letters:
        typer.echo(json.dumps(letter.model_dump(mode="json"))[:500])


@schedules_app.callback()
def schedules(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
    config: ConfigOption = None,
) -> None:
    """List hunt schedules: playbook, cron, paused, next runs."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load_settings(config)

    async def go() -> list[HuntSchedule]:
        client = await fl.connect_configured(settings, connect_args(settings))
        return list(await list_hunt_schedules(client, load_catalog([settings.playbooks_dir])))

    found = run_async(go())
    if as_json:
        typer.echo(json.dumps([s.model_dump(mode="json") for s in found], indent=2))
        return
    if not found:
        typer.echo("no scheduled hunts (give a playbook `trigger: schedule: <cron>`)")
    for s in found:
        nxt = s.next_runs[0].strftime("%Y-%m-%d %H:%M") if s.next_runs else "-"
        state = "paused" if s.paused else "active"
        typer.echo(f"{s.playbook:<36} {s.cron:<14} {state:<7} next {nxt}")


def _schedule_op(playbook: str, op: str, note: str | None, config: Path | None) -> None:
    settings = load_settings(config)

    async def go() -> None:
        client = await fl.connect_configured(settings, connect_args(settings))
        if op == "pause":
            await pause_hunt(client, playbook, note)
        elif op == "unpause":
            await unpause_hunt(client, playbook, note)
        else:
            await trigger_hunt(client, playbook)

    run_async(go())
    typer.echo(f"{op}d hunt {playbook}")


@schedules_app.command()
def pause(
    playbook: str, note: Annotated[str | None, typer.Option(help="Why.")] = None, config: ConfigOption = None
) -> None:
    """Pause a playbook's hunt schedule."""
    _schedule_op(playbook, "pause", note, config)


@schedules_app.command()
def unpause(
    playbook: str, note: Annotated[str | None, typer.Option(help="Why.")] = None, config: ConfigOption = None
) -> None:
    """Resume a playbook's hunt schedule."""
    _schedule_op(playbook, "unpause", note, config)


@schedules_app.command()
def trigger(playbook: str, config: ConfigOption = None) -> None:
    """Run a playbook's hunt now."""
    _schedule_op(playbook, "trigger", None, config)


def register(app: typer.Typer) -> None:
    """Add ``fireline alerts`` and ``fireline schedules`` to ``app``."""
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(schedules_app, name="schedules")
