"""``fireline doctor``: configuration, then connectivity and permissions of every configured system."""

from __future__ import annotations

import asyncio
import os
import smtplib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from engine.config_check import ConfigReport, Finding, Level, check_config
from engine.settings import Settings
from engine.stack.state import load_state_quietly


def _ok(setting: str, message: str) -> Finding:
    return Finding(level=Level.OK, setting=setting, message=message)


def _error(setting: str, message: str) -> Finding:
    return Finding(level=Level.ERROR, setting=setting, message=message)


def _warn(setting: str, message: str) -> Finding:
    return Finding(level=Level.WARNING, setting=setting, message=message)


async def check_temporal(settings: Settings) -> list[Finding]:
    """Reach the namespace, and see whether any worker polls the task queue."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest

    from engine import client as fl
    from engine.stack.local import connect_args

    try:
        args = connect_args(settings)
        client = await asyncio.wait_for(fl.connect(args), timeout=10)
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=args.namespace))
    except Exception as exc:
        return [_error("temporal", f"cannot reach the namespace: {str(exc)[:300]}")]
    found = [_ok("temporal", f"{args.target_host} namespace {args.namespace} answers")]
    queue = settings.temporal.task_queue
    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=args.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    if answer.pollers:
        found.append(_ok("temporal.task_queue", f"{len(answer.pollers)} worker(s) poll {queue!r}"))
    else:
        found.append(
            _warn(
                "temporal.task_queue", f"no worker polls {queue!r}: runs will wait (start `fireline worker`)"
            )
        )
    return found


def check_elasticsearch(url: str | None, environ: Mapping[str, str]) -> list[Finding]:
    """Reach the cluster with the configured credentials and check the privileges fireline needs."""
    if not url:
        return [_warn("elasticsearch", "not configured and no local stack runs")]
    from engine.activities.es_client import engine_client

    try:
        with engine_client(url, environ.get("ELASTICSEARCH_CA_FILE")) as es:
            info = es.info()
            found = [_ok("elasticsearch", f"{url} answers as {info['version']['number']}")]
            try:
                rights = es.security.has_privileges(
                    index=[
                        {"names": ["logs-*", ".alerts-security.alerts-*"], "privileges": ["read"]},
                        {"names": ["fireline-*"], "privileges": ["write", "create_index"]},
                        {"names": [".alerts-security.alerts-*"], "privileges": ["write"]},
                    ]
                )
            except Exception as exc:
                return [*found, _warn("elasticsearch.privileges", f"cannot check: {str(exc)[:200]}")]
            missing = [
                f"{priv} on {name}"
                for name, privs in rights.get("index", {}).items()
                for priv, granted in privs.items()
                if not granted
            ]
            if missing:
                found.append(_error("elasticsearch.privileges", "missing: " + "; ".join(missing)))
            else:
                found.append(_ok("elasticsearch.privileges", "read SIEM data, write alerts and fireline-*"))
            return found
    except Exception as exc:
        return [_error("elasticsearch", f"{url}: {type(exc).__name__}: {str(exc)[:300]}")]


def check_slack(settings: Settings) -> list[Finding]:
    """auth.test with the bot token; the approvals channel exists."""
    slack = settings.slack
    if slack.bot_token is None:
        return []
    base = (slack.api_url or "https://slack.com/api/").rstrip("/") + "/"
    headers = {"Authorization": f"Bearer {slack.bot_token.get_secret_value()}"}
    try:
        answer = httpx.post(base + "auth.test", headers=headers, timeout=10).json()
    except (httpx.HTTPError, ValueError) as exc:
        return [_error("slack", f"cannot reach {base}: {type(exc).__name__}")]
    if not answer.get("ok"):
        return [_error("slack.bot_token", f"Slack refused the token: {answer.get('error', 'unknown')}")]
    found = [_ok("slack", f"bot {answer.get('user', '?')} in team {answer.get('team', '?')}")]
    if slack.approvals_channel:
        info = httpx.get(
            base + "conversations.info",
            params={"channel": slack.approvals_channel},
            headers=headers,
            timeout=10,
        ).json()
        if info.get("ok"):
            found.append(_ok("slack.approvals_channel", f"{slack.approvals_channel} exists"))
        else:
            found.append(_error("slack.approvals_channel", f"{slack.approvals_channel}: {info.get('error')}"))
    return found


def check_http_services(environ: Mapping[str, str]) -> list[Finding]:
    """MLflow, the LiteLLM gateway and SMTP, when their settings are present."""
    found: list[Finding] = []
    probes = {"MLFLOW_TRACKING_URI": "/health", "LITELLM_URL": "/health/liveliness"}
    for name, path in probes.items():
        base = environ.get(name)
        if not base:
            continue
        try:
            status = httpx.get(base.rstrip("/") + path, timeout=10).status_code
        except httpx.HTTPError as exc:
            found.append(_error(name, f"{base}: {type(exc).__name__}"))
            continue
        level = _ok if status < 400 else _error
        found.append(level(name, f"{base}{path} answered {status}"))
    host = environ.get("SMTP_HOST")
    if host:
        port = int(environ.get("SMTP_PORT", "587"))
        try:
            with smtplib.SMTP(host, port, timeout=10) as smtp:
                smtp.ehlo()
                tls = smtp.has_extn("starttls")
            found.append(
                (_ok if tls else _error)(
                    "SMTP_HOST", f"{host}:{port} {'offers' if tls else 'lacks'} STARTTLS"
                )
            )
        except OSError as exc:
            found.append(_error("SMTP_HOST", f"{host}:{port}: {exc}"))
    return found


async def diagnose(config: Path | None = None, environ: Mapping[str, str] | None = None) -> ConfigReport:
    """Everything ``fireline doctor`` checks, as one report."""
    env = dict(os.environ if environ is None else environ)
    report = check_config(config, env)
    if not report.ok:
        return report
    settings = Settings.load(config)
    state = load_state_quietly(settings.home.resolve())
    es_url = settings.elasticsearch.url or (state.elasticsearch_url if state else None)
    findings: list[Any] = await check_temporal(settings)
    findings += await asyncio.to_thread(check_elasticsearch, es_url, env)
    findings += await asyncio.to_thread(check_slack, settings)
    findings += await asyncio.to_thread(check_http_services, env)
    report.findings.extend(findings)
    return report
