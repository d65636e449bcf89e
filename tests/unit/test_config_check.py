"""``fireline config check``: what it catches, how it says it, and the generated settings table."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.config_check import Level, check_config, configuration_doc, main

REPO = Path(__file__).resolve().parents[2]
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No stray configuration from the machine running the tests."""
    monkeypatch.chdir(tmp_path)
    for name in (
        "FIRELINE_CONFIG",
        "FIRELINE_HOME",
        "TEMPORAL_ADDRESS",
        "TEMPORAL_API_KEY",
        "ELASTICSEARCH_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def _config(tmp_path: Path, text: str) -> Path:
    shutil.copytree(REPO / "playbooks", tmp_path / "playbooks", dirs_exist_ok=True)
    path = tmp_path / "fireline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _messages(path: Path | None, level: Level = Level.ERROR, env: dict[str, str] | None = None) -> list[str]:
    report = check_config(path, environ=env or {})
    return [f"{f.setting}: {f.message}" for f in report.findings if f.level is level]


def test_a_good_production_file_passes(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text(PEM)
    path = _config(
        tmp_path,
        "temporal: {address: temporal.internal:7233, namespace: fireline}\n"
        f"elasticsearch: {{url: 'https://es.internal:9200', ca_file: {tmp_path / 'ca.pem'}}}\n"
        "receiver: {listen: '0.0.0.0:8787'}\n",
    )
    report = check_config(path, environ={})
    assert report.ok, report.render()
    assert report.config_file == path
    text = report.render()
    shipped = sorted(p.stem for p in (Path(__file__).parents[2] / "playbooks").glob("*.yaml"))
    assert f"{len(shipped)} valid in playbooks: {', '.join(shipped)}" in text
    assert "temporal.internal:7233 namespace fireline, plaintext" in text
    assert text.endswith("OK: 0 error(s), 0 warning(s)")


def test_the_shipped_example_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ca.pem").write_text(PEM)
    # Only the paths that exist inside the image are pointed at this machine's files.
    monkeypatch.setenv("FIRELINE_PLAYBOOKS_DIR", str(REPO / "playbooks"))
    monkeypatch.setenv("FIRELINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FIRELINE_ELASTICSEARCH__CA_FILE", str(tmp_path / "ca.pem"))
    report = check_config(REPO / "deploy" / "fireline.example.yaml", environ={})
    assert report.ok, report.render()


def test_unknown_keys_and_bad_values_name_the_setting(tmp_path: Path) -> None:
    path = _config(tmp_path, "temporal: {adress: x:1}\nreceiver: {listen: nowhere}\n")
    (error,) = _messages(path)
    assert "temporal.adress: unknown setting" in error
    assert "receiver.listen" in error


def test_a_missing_playbooks_folder_or_a_broken_playbook_fails(tmp_path: Path) -> None:
    path = _config(tmp_path, "playbooks_dir: nowhere\n")
    assert _messages(path) == ["playbooks_dir: nowhere is not a folder"]
    path = _config(tmp_path, "playbooks_dir: playbooks\n")
    (tmp_path / "playbooks" / "broken.yaml").write_text(
        "apiVersion: fireline/v1\nkind: Playbook\nmetadata: {name: broken, version: 1}\n"
        "steps:\n  - id: a\n    uses: nosuch.action\n"
    )
    errors = _messages(path)
    assert errors and all(e.startswith("playbooks_dir: ") for e in errors)
    assert any("broken.yaml:6:" in e and "nosuch.action" in e for e in errors)


def test_tls_files_must_exist_and_be_pem(tmp_path: Path) -> None:
    path = _config(tmp_path, "temporal: {address: t:7233, tls_cert: missing.crt, tls_key: missing.key}\n")
    (error,) = _messages(path)
    assert "temporal.tls_ca" in error or "temporal.tls_cert" in error
    assert "missing.crt" in error
    (tmp_path / "cert.crt").write_text("not a certificate")
    (tmp_path / "cert.key").write_text(PEM)
    path = _config(tmp_path, "temporal: {address: t:7233, tls_cert: cert.crt, tls_key: cert.key}\n")
    assert _messages(path) == ["temporal.tls_cert: is not a PEM file"]


def test_temporal_cloud_needs_credentials_and_api_keys_need_tls(tmp_path: Path) -> None:
    path = _config(
        tmp_path, "temporal: {address: fireline.a1b2c.tmprl.cloud:7233, namespace: fireline.a1b2c}\n"
    )
    (error,) = _messages(path)
    assert "Temporal Cloud needs an API key" in error
    ok = _messages(path, Level.OK, env={})
    assert not any("tmprl.cloud" in m for m in ok)
    key = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJmaXJlbGluZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl"
    path = _config(tmp_path, f"temporal: {{address: 'x:7233', api_key: {key}, tls: false}}\n")
    (error,) = _messages(path)
    assert error == "temporal.tls: an API key is only sent over TLS"
    report = check_config(path, environ={})
    assert key not in report.render() and key not in report.model_dump_json()


def test_listen_addresses_must_parse_and_not_collide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRELINE_OBSERVABILITY__METRICS_LISTEN", "0.0.0.0:8787")
    path = _config(tmp_path, "receiver: {listen: 'bad host!:8787'}\n")
    assert _messages(path) == ["receiver.listen: 'bad host!' is neither an IP address nor a host name"]
    path = _config(tmp_path, "receiver: {listen: '0.0.0.0:8787'}\n")
    assert _messages(path) == ["observability.metrics_listen: port 8787 is also receiver.listen"]
    path = _config(tmp_path, "receiver: {listen: '[::]:0'}\n")
    assert any("port 0 picks a free port" in m for m in _messages(path, Level.WARNING))


def test_secret_files_must_be_readable_and_are_never_printed(tmp_path: Path) -> None:
    path = _config(tmp_path, "")
    secret = tmp_path / "key"
    secret.write_text("c3VwZXJzZWNyZXQ=\n")
    env = {"ELASTICSEARCH_API_KEY_FILE": str(secret), "SLACK_BOT_TOKEN_FILE": str(tmp_path / "nope")}
    report = check_config(path, environ=env)
    errors = [f"{f.setting}: {f.message}" for f in report.errors]
    assert errors == [f"SLACK_BOT_TOKEN_FILE: cannot read {tmp_path / 'nope'}: No such file or directory"]
    assert "c3VwZXJzZWNyZXQ=" not in report.render()


def test_grpc_trace_export_is_refused(tmp_path: Path) -> None:
    path = _config(tmp_path, "")
    errors = _messages(path, env={"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert errors == [
        "OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' is not supported: fireline exports traces with http/protobuf"
    ]


def test_the_command_exits_non_zero_on_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, "playbooks_dir: nowhere\n")
    assert main(["check", "--config", str(path)]) == 1
    assert "FAILED: 1 error(s)" in capsys.readouterr().out
    assert main(["check", "--config", str(tmp_path / "absent.yaml")]) == 1
    assert "does not exist" in capsys.readouterr().out


def test_the_committed_configuration_table_is_up_to_date() -> None:
    committed = (REPO / "deploy" / "CONFIGURATION.md").read_text(encoding="utf-8")
    assert committed == configuration_doc(), (
        "deploy/CONFIGURATION.md is stale: run `python -m engine.config_check table deploy/CONFIGURATION.md`"
    )


def test_the_table_documents_every_setting_with_its_variable() -> None:
    doc = configuration_doc()
    for row in (
        "`temporal.api_key` | `FIRELINE_TEMPORAL__API_KEY or TEMPORAL_API_KEY` | secret or null",
        "`receiver.listen` | `FIRELINE_RECEIVER__LISTEN` | str | `127.0.0.1:8787`",
        "`observability.log_format` | `FIRELINE_OBSERVABILITY__LOG_FORMAT` | `text` or `json`",
    ):
        assert row in doc
    assert all(line.count(" | ") == 4 for line in doc.splitlines() if line.startswith("| `"))
