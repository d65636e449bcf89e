"""Authoring commands: validate, schema, graph, actions, rehearse."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from engine.cli.common import console, read_alert, run_async
from engine.errors import RehearsalError
from engine.plan.compile import compile_plan
from engine.plan.graph import to_mermaid
from engine.registry import REGISTRY
from engine.spec.catalog import load_catalog, playbook_files
from engine.spec.models import Playbook


class OutputFormat(StrEnum):
    """How diagnostics are printed."""

    TEXT = "text"
    JSON = "json"


def validate(
    paths: Annotated[list[Path], typer.Argument(help="Playbook files or folders.")],
    output: Annotated[OutputFormat, typer.Option("--format", help="text or json")] = OutputFormat.TEXT,
) -> None:
    """Check playbooks; print every error as file:line:col: path: message (hint)."""
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        typer.echo(f"{path}: no such file or folder", err=True)
    wanted = {p.resolve() for p in playbook_files(p for p in paths if p.exists())}
    catalog = load_catalog([*paths, *_link_sources(paths)])
    entries = [e for e in catalog.entries if Path(e.file).resolve() in wanted]
    if missing or not entries:
        if not entries:
            typer.echo("error: no playbook files found", err=True)
        raise typer.Exit(1)
    failed = [e for e in entries if not e.ok]
    if output is OutputFormat.JSON:
        report = [
            {
                "file": e.file,
                "name": e.name,
                "ok": e.ok,
                "sha256": e.sha256,
                "diagnostics": [d.to_dict() for d in e.diagnostics],
            }
            for e in entries
        ]
        typer.echo(json.dumps(report, indent=2))
    else:
        for entry in entries:
            if entry.ok and entry.playbook is not None:
                pb = entry.playbook
                steps = len(pb.steps)
                typer.echo(f"ok  {entry.file}: {pb.metadata.name} v{pb.metadata.version} ({steps} steps)")
            for diagnostic in entry.diagnostics:
                typer.echo(diagnostic.render())
        total = sum(len(e.diagnostics) for e in failed)
        if failed:
            typer.echo(f"{total} error(s) in {len(failed)} of {len(entries)} playbook(s)", err=True)
    raise typer.Exit(1 if failed else 0)


def _link_sources(paths: list[Path]) -> list[Path]:
    """Where `playbook:` links may point: the files' sibling playbooks and the configured catalog."""
    siblings = {f for p in paths if p.is_file() for f in p.parent.glob("*.y*ml")}
    playbooks_dir = Path("playbooks")
    return sorted(siblings) + ([playbooks_dir] if playbooks_dir.is_dir() else [])


def schema() -> None:
    """Print the JSON Schema of the playbook format (for editors)."""
    document: dict[str, Any] = Playbook.model_json_schema(by_alias=True)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "fireline playbook (apiVersion fireline/v1)"
    typer.echo(json.dumps(document, indent=2))


def graph(playbook: Annotated[Path, typer.Argument(help="Playbook file.")]) -> None:
    """Print the step graph as Mermaid."""
    catalog = load_catalog([playbook, *_link_sources([playbook])])
    entry = catalog.resolve(str(playbook))
    typer.echo(to_mermaid(compile_plan(entry, catalog)))


def actions() -> None:
    """List registered actions and their parameters."""
    for name in REGISTRY.names():
        definition = REGISTRY.get(name)
        fields = definition.params_model.model_fields
        params = ", ".join(f"{k}{'' if f.is_required() else '?'}" for k, f in fields.items())
        secrets = f"  secrets: {', '.join(definition.secrets)}" if definition.secrets else ""
        console.print(f"[bold]{name}[/]({params}){secrets}\n    {definition.description}")
    for system, error in REGISTRY.load_errors.items():
        console.print(f"[red]integration {system} failed to load[/]: {error}")


def catalog(
    folder: Annotated[Path, typer.Argument(help="Playbooks folder.")] = Path("playbooks"),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
) -> None:
    """List the playbooks with their triggers, inputs and the actions they use."""
    loaded = load_catalog([folder])
    rows = [_catalog_row(entry, loaded) for entry in loaded.entries if entry.ok]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        console.print(f"[bold]{row['name']}[/] v{row['version']}  {row['title']}")
        console.print(f"    trigger: {row['trigger']}")
        console.print(f"    inputs:  {', '.join(row['inputs']) or '-'}")
        console.print(f"    actions: {', '.join(row['actions']) or '-'}")
    for entry in loaded.entries:
        for diagnostic in entry.diagnostics:
            typer.echo(diagnostic.render(), err=True)


def _catalog_row(entry: Any, loaded: Any) -> dict[str, Any]:
    from engine.plan.graph import actions_used

    spec = entry.playbook
    trigger = "manual only"
    if spec.trigger is not None:
        rules = spec.trigger.any or spec.trigger.all or []
        parts = [f"{r.source}: {r.match}" for r in rules]
        if spec.trigger.schedule:
            parts.append(f"schedule {spec.trigger.schedule}")
        trigger = "; ".join(parts) or "manual only"
    return {
        "name": spec.metadata.name,
        "version": spec.metadata.version,
        "title": spec.metadata.title,
        "file": entry.file,
        "trigger": trigger,
        "inputs": [f"{n}: {i.type.value}" for n, i in spec.inputs.items()],
        "actions": actions_used(compile_plan(entry, loaded)),
    }


def rehearse(
    playbook: Annotated[Path, typer.Argument(help="Playbook file.")],
    alert: Annotated[Path, typer.Option("--alert", help="Normalized alert (JSON).")],
    mocks: Annotated[Path, typer.Option("--mocks", help="MOCKS.yaml")],
    expect: Annotated[Path | None, typer.Option("--expect", help="EXPECT.yaml")] = None,
) -> None:
    """Run the real workflow on the time-skipping test server against mocked actions."""
    from engine.rehearsal.compare import executed_lines
    from engine.rehearsal.models import Expect, Mocks
    from engine.rehearsal.runner import rehearse as run_rehearsal

    catalog = load_catalog([playbook, *_link_sources([playbook])])
    plan = compile_plan(catalog.resolve(str(playbook)), catalog)
    mock_model = Mocks.model_validate(_read_yaml(mocks))
    expect_model = Expect.model_validate(_read_yaml(expect)) if expect else None
    report = run_async(run_rehearsal(plan, read_alert(alert), mock_model, expect_model))
    for line in executed_lines(report.state):
        typer.echo(line)
    typer.echo(f"run {report.state.status.value}")
    if report.ok:
        typer.echo("ok")
        return
    for difference in report.differences:
        typer.echo(f"DIFF {difference}")
    raise typer.Exit(1)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise RehearsalError(f"{path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RehearsalError(f"{path}: invalid YAML: {exc}") from None


def register(app: typer.Typer) -> None:
    """Add the authoring commands to ``app``."""
    app.command()(validate)
    app.command()(schema)
    app.command()(graph)
    app.command()(actions)
    app.command()(rehearse)
    app.command()(catalog)
