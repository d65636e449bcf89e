"""Logs and traces: JSON log lines that carry run id and step id, never secrets; OpenTelemetry.

Logs: :func:`configure_logging` installs one handler on the root logger with a
:class:`LogContextFilter` (run id, step id, ... from Temporal's workflow/activity info and from
:func:`bind_log_context`) and a :class:`RedactionFilter` (secret values, secret-named fields,
token-shaped strings). Traces: :func:`setup_tracing` returns Temporal's ``TracingInterceptor``,
exporting over OTLP/HTTP, when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (or ``tracing: true``).

This module imports neither temporalio nor OpenTelemetry at import time, so the settings model can
import :class:`ObservabilitySettings` from here.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from temporalio.contrib.opentelemetry import TracingInterceptor

    from engine.settings import Settings

REDACTED = "[REDACTED]"
#: Field, argument and variable names whose values are secrets.
SECRET_NAME = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|apikey|authorization|cookie|private[_-]?key|credential", re.I
)
#: Strings shaped like credentials, wherever they appear in a message.
_SECRET_SHAPES = re.compile(
    r"(?:xox[abposr]|xapp)-[A-Za-z0-9-]{8,}"  # Slack tokens
    r"|(?P<scheme>\b(?:Bearer|ApiKey|Basic) )[A-Za-z0-9._~+/=-]{8,}"  # Authorization header values
    r"|\bAKIA[0-9A-Z]{16}\b"  # AWS access key ids
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWTs (Temporal Cloud API keys)
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
    re.S,
)
#: Environment variables whose value is a key, beyond SECRET_NAME (e.g. FIRELINE_PSEUDONYM_KEY).
_KEY_VARIABLE = re.compile(r"(?:^|_)(?:KEY|PSK)$", re.I)
_ASSIGNED_SECRET = re.compile(
    r"(?i)\b((?:[a-z_]*)(?:password|passwd|secret|token|api[_-]?key|authorization)[a-z_]*)(\s*[=:]\s*[\"']?)"
    r"([^\s\"',;&]+)"
)
MIN_SECRET_LENGTH = 6
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_CONTEXT_KEYS = ("run_id", "step_id", "playbook", "action", "attempt", "workflow_type", "temporal_run_id")
_tracer_provider: TracerProvider | None = None  # the one setup_tracing installed
_log_context: ContextVar[Mapping[str, Any] | None] = ContextVar("fireline_log_context", default=None)


class LogFormat(StrEnum):
    """How log lines look."""

    TEXT = "text"
    JSON = "json"


class LogLevel(StrEnum):
    """The least severe level that is logged."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class ObservabilitySettings(BaseModel):
    """Logs, metrics and traces (the ``observability`` section)."""

    model_config = ConfigDict(extra="forbid")

    log_format: LogFormat = Field(
        LogFormat.TEXT, description="Log lines as `text` or `json` (one object a line)."
    )
    log_level: LogLevel = Field(LogLevel.INFO, description="Least severe level logged.")
    metrics_listen: str | None = Field(
        None, description="host:port where the worker serves /metrics and /healthz; null: off."
    )
    temporal_metrics_listen: str | None = Field(
        None, description="host:port where the Temporal SDK serves its Prometheus metrics; null: off."
    )
    tracing: bool | None = Field(
        None, description="Export traces over OTLP/HTTP; null: on when OTEL_EXPORTER_OTLP_ENDPOINT is set."
    )
    service_name: str = Field(
        "fireline", min_length=1, description="OpenTelemetry service.name of this process."
    )

    @field_validator("metrics_listen", "temporal_metrics_listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            split_listen(value)
        return value


def split_listen(value: str) -> tuple[str, int]:
    """``host:port`` (IPv6 in brackets) into its parts.

    Raises:
        ValueError: not ``host:port`` with a port from 0 to 65535.
    """
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{value!r} must be host:port, e.g. 0.0.0.0:9464")
    return host.strip("[]"), int(port)


def observability_settings(settings: Settings | None = None) -> ObservabilitySettings:
    """The ``observability`` section of ``settings``, or one read from ``FIRELINE_OBSERVABILITY__*``."""
    section = getattr(settings, "observability", None)
    if isinstance(section, ObservabilitySettings):
        return section
    prefix = "FIRELINE_OBSERVABILITY__"
    data = {k[len(prefix) :].lower(): v for k, v in os.environ.items() if k.startswith(prefix) and v != ""}
    # Until the settings model has this section, it is read from FIRELINE_OBSERVABILITY__* here.
    return ObservabilitySettings.model_validate(data)


# --- redaction -------------------------------------------------------------------------------


class SecretValues:
    """Secret values known to this process; every log line is scrubbed of them."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, *values: str | SecretStr | None) -> None:
        """Remember values (short ones are ignored: they would blank out ordinary words)."""
        for value in values:
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if text and len(text) >= MIN_SECRET_LENGTH and text not in self._values:
                self._values.add(text)
                self._pattern = None

    def scrub(self, text: str) -> str:
        """``text`` with every known secret value and credential-shaped string replaced."""
        if self._values:
            if self._pattern is None:
                alternatives = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in alternatives))
            text = self._pattern.sub(REDACTED, text)
        text = _SECRET_SHAPES.sub(lambda m: (m.group("scheme") or "") + REDACTED, text)
        return _ASSIGNED_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


SECRETS = SecretValues()


def register_secrets(values: Iterable[str | SecretStr | None]) -> None:
    """Add secret values (e.g. those resolved for an action) to the process-wide redaction list."""
    SECRETS.add(*values)


def register_settings_secrets(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """Register every secret the settings hold and every secret-named environment variable's value."""
    env = os.environ if environ is None else environ
    register_secrets(_secret_fields(settings))
    named = (k for k in env if (SECRET_NAME.search(k) or _KEY_VARIABLE.search(k)) and not k.endswith("_FILE"))
    register_secrets(env[k] for k in named)


def _secret_fields(model: BaseModel) -> Iterator[SecretStr]:
    """Every SecretStr in a settings model, however deep (new secret settings are covered too)."""
    for name in type(model).model_fields:
        value = getattr(model, name, None)
        if isinstance(value, SecretStr):
            yield value
        elif isinstance(value, BaseModel):
            yield from _secret_fields(value)


def redact(value: Any, secrets: SecretValues = SECRETS, depth: int = 0) -> Any:
    """A copy of ``value`` safe to log: secret-named keys blanked, strings scrubbed."""
    if isinstance(value, str):
        return secrets.scrub(value)
    if depth > 6:
        return "..."
    if isinstance(value, Mapping):
        return {
            k: REDACTED if SECRET_NAME.search(str(k)) else redact(v, secrets, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v, secrets, depth + 1) for v in value]
    if isinstance(value, SecretStr):
        return REDACTED
    return value


class RedactionFilter(logging.Filter):
    """Scrubs the message, the exception text and extra fields of every record it sees."""

    def __init__(self, secrets: SecretValues = SECRETS) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not take logging down
            message = f"{record.msg!r} (unformattable arguments)"
        record.msg, record.args = self.secrets.scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.secrets.scrub(record.exc_text)
        for key in [k for k in record.__dict__ if k not in _STANDARD_ATTRS]:
            value = record.__dict__[key]
            record.__dict__[key] = REDACTED if SECRET_NAME.search(key) else redact(value, self.secrets)
        return True


# --- context ---------------------------------------------------------------------------------


@contextmanager
def bind_log_context(**fields: Any) -> Iterator[None]:
    """Add fields (e.g. ``run_id``, ``step_id``) to every log line written inside the block."""
    token = _log_context.set(
        {**(_log_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    )
    try:
        yield
    finally:
        _log_context.reset(token)


def current_log_context() -> dict[str, Any]:
    """Run and step fields for a log line written now: Temporal's info, then bound fields."""
    fields: dict[str, Any] = {}
    from temporalio import activity, workflow

    if activity.in_activity():
        a = activity.info()
        fields.update(run_id=a.workflow_id, temporal_run_id=a.workflow_run_id, workflow_type=a.workflow_type)
        fields.update(attempt=a.attempt, activity=a.activity_type)
    elif workflow.in_workflow():
        w = workflow.info()
        fields.update(run_id=w.workflow_id, temporal_run_id=w.run_id, workflow_type=w.workflow_type)
    fields.update(_log_context.get() or {})
    return fields


class LogContextFilter(logging.Filter):
    """Puts run id, step id and the other context fields on each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in current_log_context().items():
            if key not in record.__dict__:
                record.__dict__[key] = value
        for key in ("run_id", "step_id"):
            record.__dict__.setdefault(key, None)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, context fields, extras, error."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        out: dict[str, Any] = {
            "ts": ts.replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in out and (value is not None or key in _CONTEXT_KEYS):
                out[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["error"] = record.exc_text
        return json.dumps(out, default=str, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [run=%(run_id)s step=%(step_id)s] %(message)s"


def configure_logging(
    obs: ObservabilitySettings | None = None, *, stream: Any = None, settings: Settings | None = None
) -> logging.Handler:
    """Send every log record through one redacting, context-adding handler on the root logger.

    Returns the handler (tests read what it writes through ``stream``). Calling it again replaces
    the handler it installed before.
    """
    obs = obs or observability_settings(settings)
    if settings is not None:
        register_settings_secrets(settings)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name("fireline")
    handler.addFilter(LogContextFilter())
    handler.addFilter(RedactionFilter())
    handler.setFormatter(
        JsonFormatter() if obs.log_format is LogFormat.JSON else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "fireline"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(obs.log_level.value)
    return handler


# --- traces ----------------------------------------------------------------------------------


def tracing_enabled(obs: ObservabilitySettings, environ: Mapping[str, str] | None = None) -> bool:
    """True when traces should be exported: ``tracing: true``, or null and an OTLP endpoint is set."""
    env = os.environ if environ is None else environ
    if obs.tracing is not None:
        return obs.tracing
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def build_tracer_provider(obs: ObservabilitySettings, exporter: SpanExporter | None = None) -> TracerProvider:
    """A tracer provider exporting to ``exporter`` or, by default, OTLP/HTTP (``OTEL_EXPORTER_OTLP_*``)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": obs.service_name}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def setup_tracing(
    settings: Settings | None = None, *, provider: TracerProvider | None = None, set_global: bool = True
) -> list[TracingInterceptor]:
    """Temporal's tracing interceptor when tracing is on, else nothing; pass it to ``Client.connect``.

    With ``set_global`` it also becomes the process's tracer provider (the first time only), so
    clients that trace on their own (the Elasticsearch client) put their spans under the step
    that made the call.
    """
    obs = observability_settings(settings)
    if provider is None and not tracing_enabled(obs):
        return []
    from opentelemetry import trace
    from temporalio.contrib.opentelemetry import TracingInterceptor

    global _tracer_provider
    provider = provider or build_tracer_provider(obs)
    _tracer_provider = provider
    if set_global and type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider":
        trace.set_tracer_provider(provider)
    return [TracingInterceptor(provider.get_tracer("fireline"))]


@contextmanager
def alert_span(source: str, alert_id: str, rule: str = "") -> Iterator[None]:
    """A span around handling one alert; runs started inside it become its children."""
    from opentelemetry import trace

    attributes = {"fireline.alert.source": source[:64], "fireline.alert.id": alert_id[:200]}
    if rule:
        attributes["fireline.alert.rule"] = rule[:200]
    tracer = (_tracer_provider or trace.get_tracer_provider()).get_tracer("fireline")
    with tracer.start_as_current_span("fireline.alert", attributes=attributes):
        yield
