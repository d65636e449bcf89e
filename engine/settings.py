"""fireline's configuration: one typed file (``fireline.yaml``) with environment overrides.

Precedence, highest first: overrides (``Settings.load(overrides=...)``, keyword arguments),
``FIRELINE_*`` variables (nested with ``__``, e.g. ``FIRELINE_TEMPORAL__PORTS__GRPC=0``), the
well-known names other tools use (``TEMPORAL_ADDRESS``, ``ELASTICSEARCH_URL``,
``SLACK_BOT_TOKEN``, ...), the YAML file, defaults. Sections and maps merge key by key across
sources; lists and maps in variables are JSON. Relative paths are relative to the working
directory. This module never imports temporalio."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from engine.access.models import AccessSettings
from engine.errors import ConfigError
from engine.observability import ObservabilitySettings

CONFIG_FILE_NAME = "fireline.yaml"

#: A TCP port; 0 (or null) asks for a free port picked at start.
Port = Annotated[int, Field(ge=0, le=65535)]

#: Plain variable names other tools already use, mapped to their place in the settings.
WELL_KNOWN_ENV: dict[str, tuple[str, ...]] = {
    "TEMPORAL_ADDRESS": ("temporal", "address"),
    "TEMPORAL_NAMESPACE": ("temporal", "namespace"),
    "TEMPORAL_API_KEY": ("temporal", "api_key"),
    "TEMPORAL_TLS": ("temporal", "tls"),
    "TEMPORAL_TLS_CLIENT_CERT_PATH": ("temporal", "tls_cert"),
    "TEMPORAL_TLS_CLIENT_KEY_PATH": ("temporal", "tls_key"),
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH": ("temporal", "tls_ca"),
    "TEMPORAL_TLS_SERVER_NAME": ("temporal", "tls_server_name"),
    "ELASTICSEARCH_URL": ("elasticsearch", "url"),
    "ELASTICSEARCH_API_KEY": ("elasticsearch", "api_key"),
    "SLACK_BOT_TOKEN": ("slack", "bot_token"),
    "SLACK_SIGNING_SECRET": ("slack", "signing_secret"),
    "SLACK_APP_TOKEN": ("slack", "app_token"),
    "SLACK_API_URL": ("slack", "api_url"),
}

_SECRET_HINTS = ("key", "token", "secret")
_yaml_data: ContextVar[dict[str, Any] | None] = ContextVar("fireline_yaml_data", default=None)


class _Section(BaseModel):
    """Base of every settings section: unknown keys are typos, so they are refused."""

    model_config = ConfigDict(extra="forbid")


class TemporalPorts(_Section):
    """Ports of the embedded Temporal dev server."""

    grpc: Port | None = Field(7233, description="Frontend gRPC port (0 or null: a free port).")
    ui: Port | None = Field(8233, description="Web UI port (0 or null: a free port).")
    http: Port | None = Field(7243, description="HTTP API port (0 or null: a free port).")


class TemporalSettings(_Section):
    """Where workflows run: the embedded dev server, a self-hosted cluster or Temporal Cloud."""

    address: str | None = Field(None, description="host:port of a cluster; null: embedded dev server.")
    namespace: str = Field("default", min_length=1, description="Temporal namespace.")
    task_queue: str = Field("fireline", min_length=1, description="Task queue the worker polls.")
    tls: bool | None = Field(None, description="Use TLS; null: on when an API key or certificate is set.")
    tls_cert: Path | None = Field(None, description="Client certificate (PEM) for mTLS.")
    tls_key: Path | None = Field(None, description="Client private key (PEM) for mTLS.")
    tls_ca: Path | None = Field(None, description="Server CA certificate (PEM), if not a public CA.")
    tls_server_name: str | None = Field(None, description="Override the TLS server name.")
    api_key: SecretStr | None = Field(None, description="API key (Temporal Cloud).")
    ports: TemporalPorts = Field(default_factory=TemporalPorts)
    ui: bool = Field(True, description="Serve the Web UI from the embedded dev server.")
    web_ui_url: str | None = Field(None, description="Web UI address shown for an external cluster.")
    action_queues: dict[str, str] = Field(
        default_factory=dict, description="Integration → its own task queue, e.g. {mlflow: fireline-mlflow}."
    )
    continue_as_new_after_events: int = Field(
        10_000,
        ge=100,
        le=50_000,
        description="History length at which a parked run continues as new (sooner if the server suggests).",
    )

    @model_validator(mode="after")
    def _key_with_cert(self) -> TemporalSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be given together")
        return self


class ElasticsearchSettings(_Section):
    """The SIEM: the embedded noida-db server, or a real Elasticsearch 8/9."""

    url: str | None = Field(None, description="Cluster URL; null starts the embedded noida-db server.")
    port: Port | None = Field(9200, description="Port of the embedded server (0 or null: a free port).")
    ca_file: Path | None = Field(None, description="CA certificate (PEM) of the cluster.")
    api_key: SecretStr | None = Field(None, description="Elasticsearch API key.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value


class DataProtectionSettings(_Section):
    """Encryption of workflow payloads and pseudonymization of personal data."""

    codec_keys_file: Path | None = Field(
        None, description="JSON file of key id → base64 AES-256 key; set to encrypt every payload."
    )
    codec_active_key: str | None = Field(None, description="Key id that encrypts new payloads (rotation).")
    personal_fields: list[str] = Field(
        default_factory=list, description="Alert fields (dotted paths) pseudonymized before they enter a run."
    )
    pseudonym_key_env: str = Field(
        "FIRELINE_PSEUDONYM_KEY", description="Variable holding the key of the pseudonymizing hash."
    )


class ReceiverSettings(_Section):
    """The HTTP receiver for alerts and chat interactivity."""

    listen: str = Field("127.0.0.1:8787", description="host:port to listen on (port 0: a free port).")

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError("must be host:port, e.g. 127.0.0.1:8787")
        return value

    @property
    def host(self) -> str:
        """Host part of ``listen`` (IPv6 brackets removed)."""
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        """Port part of ``listen``."""
        return int(self.listen.rpartition(":")[2])


class SlackSettings(_Section):
    """Slack credentials; read by the receiver and the Slack integration only."""

    bot_token: SecretStr | None = Field(None, description="Bot token (xoxb-...).")
    signing_secret: SecretStr | None = Field(None, description="Signing secret for interactivity requests.")
    app_token: SecretStr | None = Field(None, description="App-level token (xapp-...) for Socket Mode.")
    mode: Literal["http", "socket"] = Field("http", description="Interactivity over HTTP or Socket Mode.")
    api_url: str | None = Field(None, description="Slack Web API base URL (tests point it at a fake).")
    approvals_channel: str | None = Field(None, description="Channel that receives approval requests.")


@dataclass(frozen=True)
class TemporalConnectArgs:
    """What ``temporalio.client.Client.connect`` needs, without importing temporalio here."""

    target_host: str
    namespace: str
    tls: bool
    api_key: str | None = field(default=None, repr=False)
    server_root_ca_cert: bytes | None = field(default=None, repr=False)
    client_cert: bytes | None = field(default=None, repr=False)
    client_private_key: bytes | None = field(default=None, repr=False)
    server_name: str | None = None


class _MappingSource(PydanticBaseSettingsSource):
    """A settings source over an already-built nested mapping."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._data


def _well_known_env() -> dict[str, Any]:
    """Nested values from the plain variable names in :data:`WELL_KNOWN_ENV`."""
    out: dict[str, Any] = {}
    for name, path in WELL_KNOWN_ENV.items():
        value = os.environ.get(name)
        if value is None or value == "":
            continue
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


class Settings(BaseSettings):
    """Everything fireline reads from ``fireline.yaml`` and the environment."""

    model_config = SettingsConfigDict(env_prefix="FIRELINE_", env_nested_delimiter="__", extra="forbid")

    home: Path = Field(Path(".fireline"), description="State folder: databases, logs, stack.json.")
    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    elasticsearch: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)
    receiver: ReceiverSettings = Field(default_factory=ReceiverSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    playbooks_dir: Path = Field(Path("playbooks"), description="Folder of playbook YAML files.")
    approver_groups: dict[str, list[str]] = Field(
        default_factory=dict, description="Group name → user ids; resolves `group:NAME` approvers."
    )
    output_cap_bytes: int = Field(262144, gt=0, description="Largest step output kept inline in history.")
    data_protection: DataProtectionSettings = Field(default_factory=DataProtectionSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    access: AccessSettings = Field(default_factory=AccessSettings)

    _config_file: Path | None = PrivateAttr(default=None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments > FIRELINE_* > well-known names > YAML file > defaults."""
        return (
            init_settings,
            env_settings,
            _MappingSource(settings_cls, _well_known_env()),
            _MappingSource(settings_cls, _yaml_data.get() or {}),
        )

    @property
    def config_file(self) -> Path | None:
        """The YAML file these settings were read from, if any."""
        return self._config_file

    @classmethod
    def load(cls, path: Path | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
        """Read settings from ``path`` (or the default file, if present) and the environment.

        ``overrides`` (e.g. command-line options, nested like the file) win over everything;
        entries whose value is None are ignored, so unset options can be passed as they are.

        Raises:
            ConfigError: the file is missing, is not valid YAML, or a value is wrong; the
                message names each field path and the reason.
        """
        source = find_config_file(path)
        data = _read_yaml(source) if source else {}
        token = _yaml_data.set(data)
        try:
            settings = cls(**_drop_none(dict(overrides or {})))
        except ValidationError as exc:
            raise ConfigError(_render_errors(exc, source)) from None
        except SettingsError as exc:
            hint = "lists and maps need JSON"
            raise ConfigError(f"invalid configuration in the environment: {exc} ({hint})") from None
        finally:
            _yaml_data.reset(token)
        settings._config_file = source
        return settings

    def temporal_connect_kwargs(self, address: str | None = None) -> TemporalConnectArgs:
        """Arguments for ``Client.connect``; ``address`` overrides (e.g. the embedded server's).

        Raises:
            ConfigError: a TLS file cannot be read.
        """
        t = self.temporal
        target = address or t.address or f"127.0.0.1:{t.ports.grpc or 7233}"
        api_key = t.api_key.get_secret_value() if t.api_key else None
        files = {name: _read_bytes(f"temporal.{name}", getattr(t, name)) for name in ("tls_ca", "tls_cert")}
        key = _read_bytes("temporal.tls_key", t.tls_key)
        auto_tls = bool(api_key or files["tls_cert"] or files["tls_ca"])
        return TemporalConnectArgs(
            target_host=target,
            namespace=t.namespace,
            tls=auto_tls if t.tls is None else t.tls,
            api_key=api_key,
            server_root_ca_cert=files["tls_ca"],
            client_cert=files["tls_cert"],
            client_private_key=key,
            server_name=t.tls_server_name,
        )


def find_config_file(path: Path | None = None) -> Path | None:
    """The YAML file to read: ``path``, ``$FIRELINE_CONFIG``, ``$FIRELINE_HOME/fireline.yaml``,
    then ``./fireline.yaml``; None when there is none (defaults and environment only).

    Raises:
        ConfigError: a file named explicitly (argument or FIRELINE_CONFIG) does not exist.
    """
    explicit = path or (Path(os.environ["FIRELINE_CONFIG"]) if os.environ.get("FIRELINE_CONFIG") else None)
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"configuration file {explicit} does not exist")
        return explicit
    home = os.environ.get("FIRELINE_HOME")
    for candidate in (Path(home) / CONFIG_FILE_NAME if home else None, Path(CONFIG_FILE_NAME)):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings, not {type(data).__name__}")
    return data


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without None values, nested mappings included (and without ones left empty)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            value = _drop_none(dict(value))
            if not value:
                continue
        if value is not None:
            out[key] = value
    return out


def _read_bytes(name: str, path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {path}: {exc.strerror or exc}") from None


def _render_errors(exc: ValidationError, source: Path | None) -> str:
    """One line per problem: ``field.path: reason (got value)``; secret values are never shown."""
    origin = f"{source} or the environment" if source else "the environment"
    lines = [f"invalid configuration (from {origin}):"]
    for err in exc.errors():
        path = ".".join(str(part) for part in err["loc"]) or "(top level)"
        reason = "unknown setting (check the spelling)" if err["type"] == "extra_forbidden" else err["msg"]
        text = f"  {path}: {reason}"
        secret = any(hint in path.lower() for hint in _SECRET_HINTS)
        if not secret and err["type"] != "missing" and isinstance(err.get("input"), str | int | float | bool):
            text += f" (got {err['input']!r})"
        lines.append(text)
    return "\n".join(lines)
