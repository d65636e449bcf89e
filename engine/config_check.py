"""``fireline config check``: validate ``fireline.yaml`` and what it points at, before a deploy.

Beyond the settings model (types, unknown keys) it checks what a model cannot: the playbooks
folder exists and every playbook in it validates, TLS and secret files can be read, listen
addresses parse and do not collide, Temporal Cloud has credentials. It also writes the
configuration table in ``deploy/CONFIGURATION.md`` from the settings model's descriptions.
Messages name settings and files, never secret values.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from collections.abc import Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from engine.errors import ConfigError
from engine.observability import SECRET_NAME, ObservabilitySettings, observability_settings, split_listen
from engine.settings import WELL_KNOWN_ENV, Settings

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9-]{1,63})*$")
_PEM = b"-----BEGIN "


class Level(StrEnum):
    """How bad a finding is; only errors fail the check."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


class Finding(BaseModel):
    """One checked thing and what was found."""

    level: Level
    setting: str
    message: str

    def render(self) -> str:
        """``level  setting: message``."""
        return f"{self.level.value:<8}{self.setting}: {self.message}"


class ConfigReport(BaseModel):
    """Everything :func:`check_config` found."""

    config_file: Path | None = None
    findings: list[Finding] = []

    @property
    def ok(self) -> bool:
        """True when nothing is an error."""
        return all(f.level is not Level.ERROR for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        """The findings that fail the check."""
        return [f for f in self.findings if f.level is Level.ERROR]

    def render(self) -> str:
        """Human-readable lines, then a one-line verdict."""
        source = str(self.config_file) if self.config_file else "defaults and environment (no fireline.yaml)"
        lines = [f"configuration from {source}", *(f.render() for f in self.findings)]
        errors, warnings = len(self.errors), sum(f.level is Level.WARNING for f in self.findings)
        lines.append(f"{'OK' if self.ok else 'FAILED'}: {errors} error(s), {warnings} warning(s)")
        return "\n".join(lines)


def check_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> ConfigReport:
    """Load the configuration as fireline would and check it; never raises for a bad configuration."""
    env = os.environ if environ is None else environ
    report = ConfigReport()
    add = report.findings.append
    try:
        settings = Settings.load(path)
    except ConfigError as exc:
        add(Finding(level=Level.ERROR, setting="configuration", message=str(exc)))
        return report
    report.config_file = settings.config_file
    add(Finding(level=Level.OK, setting="configuration", message="settings are valid"))
    try:
        obs = observability_settings(settings)
    except ValueError as exc:
        add(Finding(level=Level.ERROR, setting="observability", message=_first_error(exc)))
        obs = None
    for finding in (
        *_check_playbooks(settings),
        *_check_temporal(settings),
        *_check_elasticsearch(settings),
        *_check_listen(settings, obs),
        *_check_secret_files(env),
        *_check_tracing(env),
    ):
        add(finding)
    return report


def _first_error(exc: ValueError) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[1:3]) if len(lines) > 1 else str(exc)


def _check_playbooks(settings: Settings) -> Iterator[Finding]:
    from engine.spec.catalog import load_catalog

    folder = settings.playbooks_dir
    if not folder.is_dir():
        yield Finding(level=Level.ERROR, setting="playbooks_dir", message=f"{folder} is not a folder")
        return
    catalog = load_catalog([folder])
    if not catalog.entries:
        yield Finding(level=Level.WARNING, setting="playbooks_dir", message=f"no playbooks in {folder}")
        return
    for diagnostic in catalog.diagnostics:
        yield Finding(level=Level.ERROR, setting="playbooks_dir", message=diagnostic.render())
    if not catalog.diagnostics:
        names = ", ".join(sorted(catalog.by_name))
        yield Finding(
            level=Level.OK,
            setting="playbooks_dir",
            message=f"{len(catalog.entries)} valid in {folder}: {names}",
        )


def _check_temporal(settings: Settings) -> Iterator[Finding]:
    t = settings.temporal
    if t.address is None:
        yield Finding(
            level=Level.OK, setting="temporal.address", message="embedded dev server (local use only)"
        )
        return
    host, _, port = t.address.rpartition(":")
    if not host or not port.isdigit():
        yield Finding(level=Level.ERROR, setting="temporal.address", message="must be host:port")
        return
    try:
        args = settings.temporal_connect_kwargs()
    except ConfigError as exc:
        yield Finding(level=Level.ERROR, setting="temporal", message=str(exc))
        return
    for name, data in (
        ("tls_cert", args.client_cert),
        ("tls_key", args.client_private_key),
        ("tls_ca", args.server_root_ca_cert),
    ):
        if data is not None and _PEM not in data:
            yield Finding(level=Level.ERROR, setting=f"temporal.{name}", message="is not a PEM file")
    cloud = host.endswith(".tmprl.cloud") or host.endswith(".api.temporal.io")
    if cloud and not (args.api_key or args.client_cert):
        message = "Temporal Cloud needs an API key (TEMPORAL_API_KEY) or an mTLS certificate and key"
        yield Finding(level=Level.ERROR, setting="temporal", message=message)
    elif args.api_key and not args.tls:
        yield Finding(level=Level.ERROR, setting="temporal.tls", message="an API key is only sent over TLS")
    else:
        how = (
            "API key" if args.api_key else "mTLS" if args.client_cert else "TLS" if args.tls else "plaintext"
        )
        message = f"{t.address} namespace {t.namespace}, {how}, task queue {t.task_queue}"
        yield Finding(level=Level.OK, setting="temporal", message=message)


def _check_elasticsearch(settings: Settings) -> Iterator[Finding]:
    es = settings.elasticsearch
    if es.ca_file is not None:
        try:
            data = es.ca_file.read_bytes()
        except OSError as exc:
            message = f"cannot read {es.ca_file}: {exc.strerror or exc}"
            yield Finding(level=Level.ERROR, setting="elasticsearch.ca_file", message=message)
        else:
            if _PEM not in data:
                yield Finding(level=Level.ERROR, setting="elasticsearch.ca_file", message="is not a PEM file")
    if es.url is None:
        yield Finding(
            level=Level.OK, setting="elasticsearch.url", message="embedded noida-db (local use only)"
        )
    elif es.url.startswith("http://") and es.api_key is not None:
        message = "the API key would travel unencrypted: use https://"
        yield Finding(level=Level.WARNING, setting="elasticsearch.url", message=message)
    else:
        yield Finding(level=Level.OK, setting="elasticsearch.url", message=es.url)


def _listen_problem(value: str) -> str | None:
    try:
        host, port = split_listen(value)
    except ValueError as exc:
        return str(exc)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.match(host):
            return f"{host!r} is neither an IP address nor a host name"
    if port == 0:
        return "port 0 picks a free port at start: probes, Services and scrapers need a fixed one"
    return None


def _check_listen(settings: Settings, obs: ObservabilitySettings | None) -> Iterator[Finding]:
    addresses = {"receiver.listen": settings.receiver.listen}
    if obs is not None:
        addresses["observability.metrics_listen"] = obs.metrics_listen or ""
        addresses["observability.temporal_metrics_listen"] = obs.temporal_metrics_listen or ""
    seen: dict[int, str] = {}
    for setting, value in addresses.items():
        if not value:
            continue
        problem = _listen_problem(value)
        if problem is not None:
            level = Level.WARNING if problem.startswith("port 0") else Level.ERROR
            yield Finding(level=level, setting=setting, message=problem)
            continue
        port = split_listen(value)[1]
        if port in seen:
            yield Finding(level=Level.ERROR, setting=setting, message=f"port {port} is also {seen[port]}")
        seen[port] = setting
        yield Finding(level=Level.OK, setting=setting, message=value)


def _check_secret_files(env: Mapping[str, str]) -> Iterator[Finding]:
    for name in sorted(env):
        if not (name.endswith("_FILE") and SECRET_NAME.search(name)) or not env[name]:
            continue
        path = Path(env[name])
        try:
            empty = not path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            yield Finding(level=Level.ERROR, setting=name, message=f"cannot read {path}: {reason}")
            continue
        level, message = (Level.WARNING, f"{path} is empty") if empty else (Level.OK, f"{path} is readable")
        yield Finding(level=level, setting=name, message=message)


def _check_tracing(env: Mapping[str, str]) -> Iterator[Finding]:
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol and protocol != "http/protobuf":
        message = f"{protocol!r} is not supported: fireline exports traces with http/protobuf"
        yield Finding(level=Level.ERROR, setting="OTEL_EXPORTER_OTLP_PROTOCOL", message=message)


# --- the configuration table -----------------------------------------------------------------

_TABLE_HEAD = "| setting | environment variable | type | default | description |\n|---|---|---|---|---|"


def _type_name(annotation: Any) -> str:
    """A short, readable type: ``int or null``, ``text or json``, ``dict[str, list[str]]``."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type_name(args[0])
    if origin in (Union, UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(_type_name(a) for a in args)}]"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return " or ".join(f"`{m.value}`" for m in annotation)
    if annotation is SecretStr:
        return "secret"
    return str(getattr(annotation, "__name__", annotation))


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value: Any = info.default_factory()  # type: ignore[call-arg]
        return "" if isinstance(value, BaseModel) else f"`{value}`"
    value = info.default
    if value is None:
        return "null"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value.value if isinstance(value, StrEnum) else value}`"


def _sections() -> list[tuple[str, FieldInfo]]:
    fields = list(Settings.model_fields.items())
    if "observability" not in Settings.model_fields:
        # Until the settings model has this section, it is read from FIRELINE_OBSERVABILITY__*.
        fields.append(("observability", FieldInfo(annotation=ObservabilitySettings)))
    return fields


def _rows(prefix: tuple[str, ...], fields: list[tuple[str, FieldInfo]]) -> Iterator[str]:
    aliases = {path: name for name, path in WELL_KNOWN_ENV.items()}
    for name, info in fields:
        path = (*prefix, name)
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _rows(path, list(annotation.model_fields.items()))
            continue
        env = "FIRELINE_" + "__".join(p.upper() for p in path)
        if path in aliases:
            env += f" or {aliases[path]}"
        text = (info.description or "").replace("|", "\\|")
        yield f"| `{'.'.join(path)}` | `{env}` | {_type_name(annotation)} | {_default(info)} | {text} |"


def configuration_table() -> str:
    """The Markdown table of every setting, generated from the settings model."""
    return "\n".join([_TABLE_HEAD, *_rows((), _sections())])


DOC_HEADER = """# Configuration

fireline reads one typed file, `fireline.yaml` (`--config`, `$FIRELINE_CONFIG`,
`$FIRELINE_HOME/fireline.yaml` or `./fireline.yaml`), then the environment, which wins.
Every setting has a `FIRELINE_` variable (sections joined by `__`; lists and maps as JSON); some
also answer to the name other tools use. Secret files: any secret can be given as `$NAME_FILE`
(a path), e.g. `ELASTICSEARCH_API_KEY_FILE`. Check a configuration with `fireline config check`.
See `deploy/fireline.example.yaml` for a production example.

<!-- generated by `python -m engine.config_check table deploy/CONFIGURATION.md`; do not edit the table -->
"""


def configuration_doc() -> str:
    """The whole of ``deploy/CONFIGURATION.md``."""
    return f"{DOC_HEADER}\n{configuration_table()}\n"


def main(argv: list[str]) -> int:
    """``python -m engine.config_check check [--config PATH] [--json]`` or ``... table PATH``.

    ``check`` prints the report and exits 1 on errors (the container entrypoint runs it before
    starting a service); ``table`` rewrites the configuration document at PATH.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m engine.config_check")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate the configuration")
    check.add_argument("--config", type=Path, default=None, help="fireline.yaml to read")
    check.add_argument("--json", action="store_true", help="machine-readable report")
    table = sub.add_parser("table", help="write the configuration document")
    table.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    if args.command == "table":
        args.path.write_text(configuration_doc(), encoding="utf-8")
        return 0
    report = check_config(args.config)
    print(report.model_dump_json(indent=2) if args.json else report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
