"""Run commands: run, runs, show, approve, cancel, reset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from temporalio.client import Client

from engine import client as fl
from engine.cli.common import console, load_settings, parse_pairs, read_alert, run_async
from engine.cli.render import print_run
from engine.errors import ConfigError
from engine.plan.compile import compile_plan
from engine.plan.inputs import resolve_inputs
from engine.plan.state import Decision, RunState
from engine.reset import ResetOutcome, reset_run
from engine.settings import Settings
from engine.spec.catalog import load_catalog
from engine.stack.local import connect_args

ConfigOption = Annotated[Path | None, typer.Option("--config", help="fireline.yaml to read.")]


async def _client(settings: Settings) -> Client:
    return await fl.connect_configured(settings, connect_args(settings))


def groups_of(settings: Settings, user: str) -> list[str]:
    """Groups ``user`` belongs to, by the configured ``approver_groups``."""
    bare = user.removeprefix("user:")
    return sorted(g for g, members in settings.approver_groups.items() if bare in members or user in members)


def run(
    playbook: Annotated[str, typer.Argument(help="Playbook file or catalog name.")],
    alert: Annotated[Path, typer.Option("--alert", help="Normalized alert (JSON).")],
    inputs: Annotated[list[str] | None, typer.Option("--input", help="k=v, repeatable.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the run to finish and print it.")] = False,
    config: ConfigOption = None,
) -> None:
    """Start a playbook for an alert (or join the open run of the same incident)."""
    settings = load_settings(config)
    sources = [settings.playbooks_dir] + ([Path(playbook)] if Path(playbook).exists() else [])
    catalog = load_catalog([p for p in sources if p.exists()])
    plan = compile_plan(catalog.resolve(playbook), catalog)
    alert_view = read_alert(alert)
    resolved = resolve_inputs(plan, alert_view, parse_pairs(inputs or []))

    async def go() -> tuple[fl.StartedRun, RunState | None]:
        client = await _client(settings)
        started = await fl.start_run(
            client,
            plan,
            alert_view,
            resolved,
            task_queue=settings.temporal.task_queue,
            options=fl.run_options(settings),
        )
        if not wait:
            return started, None
        await client.get_workflow_handle(started.run_id).result()
        return started, await fl.status(client, started.run_id)

    started, final = run_async(go())
    verb = "joined open run" if started.joined else "started run"
    typer.echo(f"{verb} {started.run_id}")
    if final is not None:
        print_run(console, final)


def runs(
    open_only: Annotated[bool, typer.Option("--open", help="Only runs still going.")] = False,
    limit: Annotated[int, typer.Option(help="How many.")] = 30,
    config: ConfigOption = None,
) -> None:
    """List open and recent runs."""
    settings = load_settings(config)

    async def go() -> list[fl.RunSummary]:
        return await fl.list_runs(await _client(settings), limit=limit, open_only=open_only)

    summaries = run_async(go())
    if not summaries:
        typer.echo("no runs")
    for s in summaries:
        started = s.started_at.strftime("%Y-%m-%d %H:%M:%S") if s.started_at else ""
        typer.echo(f"{s.run_id:<48} {s.status:<10} {started}  {s.severity:<8} {s.title[:60]}")


def show(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable timeline.")] = False,
    config: ConfigOption = None,
) -> None:
    """Show a run's timeline: steps, status, times, attempts, outputs, approvals."""
    settings = load_settings(config)

    async def go() -> RunState:
        return await fl.status(await _client(settings), run_id)

    state = run_async(go())
    if as_json:
        typer.echo(state.model_dump_json(indent=2))
    else:
        print_run(console, state)


def approve(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    step: Annotated[
        str, typer.Argument(help="Approval step path, e.g. approve; in a child run: breach.approve.")
    ],
    user: Annotated[str, typer.Option("--as", help="Who decides, e.g. user:alice.")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approve.")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (required to reject).")] = "",
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Edit an editable argument of the guarded step before approving: NAME=JSON, "
            """e.g. --set 'access_key_id="AKIA..."' (repeatable).""",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Approve (or reject) a pending approval step; a second decision is refused, naming the first."""
    settings = load_settings(config)
    by = user if user.startswith("user:") else f"user:{user}"
    decision = Decision.REJECT if reject else Decision.APPROVE
    edits = parse_edits(set_ or [])

    async def go() -> None:
        client = await _client(settings)
        await fl.decide(
            client, run_id, step, decision, by, groups=groups_of(settings, by), reason=reason, edits=edits
        )

    run_async(go())
    edited = f" with {', '.join(sorted(edits))} edited" if edits else ""
    typer.echo(f"{decision.value}d {run_id} {step} as {by}{edited}")


def parse_edits(pairs: list[str]) -> dict[str, Any]:
    """``NAME=JSON`` options into edits; a value that is not JSON is refused, naming the option."""
    edits: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--set {pair!r}: expected NAME=JSON, e.g. keys='[\"AKIA...\"]'")
        try:
            edits[name.strip()] = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"--set {name.strip()}: value is not JSON ({exc.msg} at column {exc.colno}); "
                "quote strings: --set name='\"text\"'"
            ) from None
    return edits


def cancel(run_id: Annotated[str, typer.Argument(help="Run id.")], config: ConfigOption = None) -> None:
    """Cancel a run."""
    settings = load_settings(config)

    async def go() -> None:
        await fl.cancel(await _client(settings), run_id)

    run_async(go())
    typer.echo(f"cancel requested for {run_id}")


def reset(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    user: Annotated[str, typer.Option("--as", help="Who resets, e.g. user:alice.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (written to the run's audit trail).")],
    to: Annotated[
        str | None, typer.Option("--to", help="Step to re-run from (default: the step the run failed at).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Re-run a run from a step: what came before stands, the step and everything after run again."""
    settings = load_settings(config)
    by = user if user.startswith("user:") else f"user:{user}"

    async def go() -> ResetOutcome:
        return await reset_run(await _client(settings), run_id, to, by=by, reason=reason, via="cli")

    outcome = run_async(go())
    typer.echo(
        f"reset {run_id} to {outcome.step} as {by}: run {outcome.from_run} replaced by {outcome.to_run}"
    )


def register(app: typer.Typer) -> None:
    """Add the run commands to ``app``."""
    app.command()(run)
    app.command()(runs)
    app.command()(show)
    app.command()(approve)
    app.command()(cancel)
    app.command()(reset)
