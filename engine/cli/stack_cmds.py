"""Stack commands: up, down, status, worker, demo."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from engine import client as fl
from engine.cli.common import console, load_settings
from engine.errors import ConfigError, StackError
from engine.heap import freeze_startup_heap
from engine.metrics import serve_metrics
from engine.observability import configure_logging
from engine.serve import serve_services, serve_worker, stop_on_signals
from engine.settings import Settings
from engine.stack.local import LocalStack, connect_args, stop_detached, wait_for_stack
from engine.stack.local import status as stack_status

ConfigOption = Annotated[Path | None, typer.Option("--config", help="fireline.yaml to read.")]


def settings_for_up(config: Path | None, overrides: dict[str, Any]) -> Settings:
    """Configured settings with `fireline up`'s options on top (secrets stay in the environment)."""
    settings = load_settings(config)
    data = settings.model_dump()
    overrides = dict(overrides)
    key_env = overrides.pop("temporal.api_key_env", None)
    if key_env:
        if not os.environ.get(key_env):
            raise ConfigError(f"--api-key-env {key_env}: the variable is empty or not set")
        overrides["temporal.api_key"] = os.environ[key_env]
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    try:
        return Settings.model_validate(data)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def up(
    detach: Annotated[
        bool, typer.Option("--detach", help="Run in the background; stop with `fireline down`.")
    ] = False,
    temporal: Annotated[str | None, typer.Option("--temporal", help="Use this Temporal (host:port).")] = None,
    namespace: Annotated[str | None, typer.Option(help="Temporal namespace.")] = None,
    tls: Annotated[bool | None, typer.Option("--tls/--no-tls", help="TLS to Temporal.")] = None,
    api_key_env: Annotated[
        str | None, typer.Option("--api-key-env", help="Variable holding a Temporal Cloud API key.")
    ] = None,
    temporal_port: Annotated[int | None, typer.Option(help="Embedded Temporal gRPC port (0 = free).")] = None,
    ui_port: Annotated[int | None, typer.Option(help="Embedded Temporal Web UI port (0 = free).")] = None,
    elasticsearch_port: Annotated[
        int | None, typer.Option(help="Embedded Elasticsearch port (0 = free).")
    ] = None,
    listen: Annotated[str | None, typer.Option(help="Receiver host:port (default 127.0.0.1:8787).")] = None,
    home: Annotated[
        Path | None, typer.Option(help="State folder (default .fireline or $FIRELINE_HOME).")
    ] = None,
    seed: Annotated[bool, typer.Option("--seed/--no-seed", help="Load sample SIEM data.")] = True,
    config: ConfigOption = None,
) -> None:
    """Start the local stack: Temporal dev server, local Elasticsearch, worker. Ctrl-C stops it."""
    overrides = {
        "home": str(home) if home else None,
        "temporal.address": temporal,
        "temporal.namespace": namespace,
        "temporal.tls": tls,
        "temporal.api_key_env": api_key_env,
        "temporal.ports.grpc": temporal_port,
        "temporal.ports.ui": ui_port,
        "elasticsearch.port": elasticsearch_port,
        "receiver.listen": listen,
    }
    settings = settings_for_up(config, overrides)
    if detach:
        _detach(settings, config, overrides)
        return
    asyncio.run(_run_stack(settings, seed=seed))


async def _run_stack(settings: Settings, *, seed: bool) -> None:
    stop = asyncio.Event()
    stop_on_signals(stop)
    async with LocalStack(settings) as stack:
        if seed and settings.elasticsearch.url is None and stack.elasticsearch_url:
            from integrations.elasticsearch.seed import seed_sample_data

            await asyncio.to_thread(seed_sample_data, stack.elasticsearch_url)
        client = await fl.connect_configured(settings, stack.connect_args())

        def listening(url: str) -> None:
            stack.record(worker_pid=os.getpid(), receiver_pid=os.getpid(), receiver_url=url)
            console.print(f"Temporal      {stack.temporal_address}  namespace {stack.namespace}")
            console.print(f"Web UI        {stack.web_ui_url or '(external cluster)'}")
            console.print(f"Elasticsearch {stack.elasticsearch_url or '-'}")
            console.print(f"receiver      {url}  (POST /alerts/elastic|alertmanager|generic)")
            console.print(f"console       {url}/console/  (tokens: fireline token --user ID)")
            console.print(f"worker        task queue {stack.task_queue} (pid {os.getpid()})")
            console.print(f"state         {stack.home}   Ctrl-C stops everything")
            freeze_startup_heap()  # the receiver is up: what exists now lives as long as the stack

        await serve_services(
            settings,
            client,
            stop,
            elasticsearch_url=stack.elasticsearch_url,
            web_ui_url=stack.web_ui_url,
            on_receiver=listening,
            temporal_args=stack.connect_args(),
        )
    console.print("stack stopped")


def _detach(settings: Settings, config: Path | None, overrides: dict[str, Any]) -> None:
    home = settings.home.resolve()
    (home / "logs").mkdir(parents=True, exist_ok=True)
    log = (home / "logs" / "fireline-up.log").open("ab")
    env = {**os.environ, "FIRELINE_HOME": str(home)}
    env["FIRELINE_UP_ARGS"] = json.dumps({"config": str(config) if config else None, "overrides": overrides})
    child = subprocess.Popen(
        [sys.executable, "-m", "engine.cli.detached"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + 90
    while True:
        if child.poll() is not None:  # it died: say why now instead of waiting out the timeout
            tail = (home / "logs" / "fireline-up.log").read_text(errors="replace").strip().splitlines()[-3:]
            raise StackError(f"the background stack exited ({child.returncode}): {' / '.join(tail)}")
        try:
            state = wait_for_stack(
                home, timeout=min(2.0, max(deadline - time.monotonic(), 0.1)), require_worker=True
            )
            break
        except StackError:
            if time.monotonic() > deadline:
                raise
    typer.echo(f"stack running in the background under {home}")
    typer.echo(f"Temporal {state.temporal_address}  Web UI {state.web_ui_url or '-'}")
    typer.echo("stop it with: fireline down")


def down(
    home: Annotated[Path | None, typer.Option(help="State folder.")] = None, config: ConfigOption = None
) -> None:
    """Stop a stack started with `fireline up --detach`."""
    target = home or load_settings(config).home
    messages = stop_detached(target.resolve())
    for line in messages or [f"no stack recorded under {target.resolve()}"]:
        typer.echo(line)


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
    home: Annotated[Path | None, typer.Option(help="State folder.")] = None,
    config: ConfigOption = None,
) -> None:
    """Say what runs where: Temporal, Web UI, receiver, Elasticsearch, worker."""
    settings = load_settings(config)
    report = stack_status((home or settings.home).resolve())
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    typer.echo(f"home          {report.home}")
    for line in _status_lines(report.model_dump(mode="json")):
        typer.echo(line)


def _status_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in report.items():
        if key == "home":
            continue
        if isinstance(value, list):
            for item in value:
                lines.append("  " + "  ".join(f"{k}={v}" for k, v in item.items() if v not in (None, "")))
        elif isinstance(value, dict):
            lines.append(
                f"{key:<13} " + "  ".join(f"{k}={v}" for k, v in value.items() if v not in (None, ""))
            )
        else:
            lines.append(f"{key:<13} {value}")
    return lines


def worker(
    actions: Annotated[
        str | None, typer.Option(help="Serve only these integrations' own queues, e.g. mlflow,aws.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run only a worker, against the configured (or local) Temporal."""
    settings = load_settings(config)

    configure_logging(settings=settings)

    async def go() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        client = await fl.connect_configured(settings, connect_args(settings))
        console.print(f"worker on task queue {settings.temporal.task_queue}; Ctrl-C stops it")
        only = [a.strip() for a in actions.split(",") if a.strip()] if actions else None
        freeze_startup_heap()
        tasks = [
            serve_worker(
                client, settings, elasticsearch_url=settings.elasticsearch.url, stop=stop, only_actions=only
            )
        ]
        if settings.observability.metrics_listen:
            tasks.append(serve_metrics(settings.observability.metrics_listen, stop))
        await asyncio.gather(*tasks)

    asyncio.run(go())


def receiver(config: ConfigOption = None) -> None:
    """Run only the receiver (alerts, Slack interactivity, hunts, poller) against the configured cluster."""
    settings = load_settings(config)
    configure_logging(settings=settings)

    def listening(url: str) -> None:
        console.print(f"receiver listening on {url}; Ctrl-C stops it")
        freeze_startup_heap()

    async def go() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        args = connect_args(settings)
        client = await fl.connect_configured(settings, args)
        await serve_services(
            settings,
            client,
            stop,
            elasticsearch_url=settings.elasticsearch.url,
            web_ui_url=settings.temporal.web_ui_url,
            worker=False,
            on_receiver=listening,
            temporal_args=args,
        )

    asyncio.run(go())


def demo(
    home: Annotated[Path, typer.Option(help="State folder for the demo stack.")] = Path(".fireline/demo"),
) -> None:
    """Start the local stack, run a real AI incident end to end, print its timeline, stop."""
    from engine.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(home)))


def register(app: typer.Typer) -> None:
    """Add the stack commands to ``app``."""
    app.command()(up)
    app.command()(down)
    app.command()(status)
    app.command()(worker)
    app.command()(receiver)
    app.command()(demo)
