"""fireline.yaml + environment → Settings: precedence, discovery, and readable errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.settings import WELL_KNOWN_ENV, Settings

CONFIG = """\
home: /srv/fireline
temporal:
  namespace: from-yaml
  task_queue: ir
  ports:
    grpc: 17233
    ui: 0
elasticsearch:
  url: http://yaml-es:9200
receiver:
  listen: 0.0.0.0:9000
playbooks_dir: /srv/playbooks
approver_groups:
  secops: [alice, bob]
output_cap_bytes: 1024
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No stray configuration from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("FIRELINE_") or name in WELL_KNOWN_ENV:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_without_file_or_environment() -> None:
    s = Settings.load()
    assert s.config_file is None
    assert s.home == Path(".fireline")
    assert s.temporal.address is None  # embedded dev server
    assert (s.temporal.namespace, s.temporal.task_queue) == ("default", "fireline")
    assert (s.temporal.ports.grpc, s.temporal.ports.ui, s.temporal.ports.http) == (7233, 8233, 7243)
    assert s.elasticsearch.url is None and s.elasticsearch.port == 9200
    assert (s.receiver.host, s.receiver.port) == ("127.0.0.1", 8787)
    assert s.playbooks_dir == Path("playbooks")
    assert s.approver_groups == {}
    assert s.output_cap_bytes == 262144


def test_values_come_from_the_yaml_file(tmp_path: Path) -> None:
    s = Settings.load(write(tmp_path / "conf" / "fireline.yaml", CONFIG))
    assert s.home == Path("/srv/fireline")
    assert s.temporal.namespace == "from-yaml" and s.temporal.task_queue == "ir"
    assert s.temporal.ports.grpc == 17233 and s.temporal.ports.ui == 0 and s.temporal.ports.http == 7243
    assert s.elasticsearch.url == "http://yaml-es:9200"
    assert (s.receiver.host, s.receiver.port) == ("0.0.0.0", 9000)
    assert s.approver_groups == {"secops": ["alice", "bob"]}
    assert s.output_cap_bytes == 1024


def test_environment_overrides_yaml_and_keeps_sibling_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "fireline.yaml", CONFIG)
    monkeypatch.setenv("FIRELINE_TEMPORAL__PORTS__GRPC", "0")
    monkeypatch.setenv("FIRELINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FIRELINE_APPROVER_GROUPS", '{"legal": ["carol"], "secops": ["dave"]}')
    s = Settings.load(path)
    assert s.temporal.ports.grpc == 0
    assert s.temporal.ports.ui == 0  # still from the file: nested values merge
    assert s.temporal.namespace == "from-yaml"
    assert s.home == tmp_path / "home"
    # Maps merge key by key; a group named in the environment replaces the file's members.
    assert s.approver_groups == {"secops": ["dave"], "legal": ["carol"]}


def test_well_known_names_override_yaml_but_not_fireline_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "fireline.yaml", CONFIG)
    monkeypatch.setenv("ELASTICSEARCH_URL", "https://es.example:9243/")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.example:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "from-well-known")
    monkeypatch.setenv("FIRELINE_TEMPORAL__NAMESPACE", "from-fireline")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-token")
    s = Settings.load(path)
    assert s.elasticsearch.url == "https://es.example:9243"
    assert s.temporal.address == "temporal.example:7233"
    assert s.temporal.namespace == "from-fireline"
    assert s.slack.bot_token is not None and s.slack.bot_token.get_secret_value() == "xoxb-secret-token"
    assert "xoxb-secret-token" not in repr(s)


def test_config_file_is_found_in_home_then_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "fireline.yaml", "temporal: {namespace: cwd}\n")
    assert Settings.load().temporal.namespace == "cwd"
    home = tmp_path / "h"
    write(home / "fireline.yaml", "temporal: {namespace: home}\n")
    monkeypatch.setenv("FIRELINE_HOME", str(home))
    loaded = Settings.load()
    assert loaded.temporal.namespace == "home" and loaded.config_file == home / "fireline.yaml"
    other = write(tmp_path / "elsewhere.yaml", "temporal: {namespace: explicit}\n")
    monkeypatch.setenv("FIRELINE_CONFIG", str(other))
    assert Settings.load().temporal.namespace == "explicit"


def test_missing_explicit_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(tmp_path / "nope.yaml")


def test_invalid_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "fireline.yaml", "temporal:\n  namespace: [unclosed\n")
    with pytest.raises(ConfigError, match=r"fireline\.yaml:\d+:\d+: invalid YAML"):
        Settings.load(path)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        Settings.load(write(tmp_path / "fireline.yaml", "- a\n- b\n"))


def test_every_bad_field_is_named_with_its_reason(tmp_path: Path) -> None:
    path = write(
        tmp_path / "fireline.yaml",
        "temporal:\n  adress: x\n  ports: {grpc: 99999}\noutput_cap_bytes: -1\nreceiver: {listen: nope}\n",
    )
    with pytest.raises(ConfigError) as info:
        Settings.load(path)
    text = str(info.value)
    assert "temporal.adress: unknown setting" in text
    assert "temporal.ports.grpc: Input should be less than or equal to 65535 (got 99999)" in text
    assert "output_cap_bytes: Input should be greater than 0" in text
    assert "receiver.listen: Value error, must be host:port" in text


def test_bad_environment_value_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRELINE_TEMPORAL__PORTS__UI", "eighty")
    with pytest.raises(ConfigError, match=r"temporal\.ports\.ui: .*integer"):
        Settings.load()


def test_bad_json_in_environment_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRELINE_APPROVER_GROUPS", "alice,bob")
    with pytest.raises(ConfigError, match="approver_groups"):
        Settings.load()


def test_invalid_secret_is_reported_without_its_value(tmp_path: Path) -> None:
    path = write(tmp_path / "fireline.yaml", "temporal:\n  api_key: [hunter2]\n")
    with pytest.raises(ConfigError) as info:
        Settings.load(path)
    assert "temporal.api_key" in str(info.value) and "hunter2" not in str(info.value)


def test_elasticsearch_url_must_be_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELASTICSEARCH_URL", "es.example:9200")
    with pytest.raises(ConfigError, match=r"elasticsearch\.url: .*http://"):
        Settings.load()


def test_connect_kwargs_for_the_embedded_server() -> None:
    args = Settings.load().temporal_connect_kwargs()
    assert (args.target_host, args.namespace, args.tls, args.api_key) == (
        "127.0.0.1:7233",
        "default",
        False,
        None,
    )
    assert Settings.load().temporal_connect_kwargs(address="127.0.0.1:5555").target_host == "127.0.0.1:5555"


def test_connect_kwargs_for_temporal_cloud_with_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "ns.acct.tmprl.cloud:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "ns.acct")
    monkeypatch.setenv("TEMPORAL_API_KEY", "cloud-key-123")
    args = Settings.load().temporal_connect_kwargs()
    assert args.target_host == "ns.acct.tmprl.cloud:7233" and args.namespace == "ns.acct"
    assert args.tls is True and args.api_key == "cloud-key-123"  # an API key turns TLS on
    assert "cloud-key-123" not in repr(args)


def test_connect_kwargs_for_mtls_read_the_files(tmp_path: Path) -> None:
    cert = write(tmp_path / "client.pem", "CERT")
    key = write(tmp_path / "client.key", "KEY")
    path = write(
        tmp_path / "fireline.yaml",
        f"temporal:\n  address: t.example:7233\n  tls_cert: {cert}\n  tls_key: {key}\n",
    )
    args = Settings.load(path).temporal_connect_kwargs()
    assert (args.tls, args.client_cert, args.client_private_key) == (True, b"CERT", b"KEY")
    key.unlink()
    with pytest.raises(ConfigError, match=r"temporal\.tls_key: cannot read"):
        Settings.load(path).temporal_connect_kwargs()


def test_certificate_without_key_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "fireline.yaml", "temporal:\n  tls_cert: /x/client.pem\n")
    with pytest.raises(ConfigError, match="tls_cert and tls_key must be given together"):
        Settings.load(path)


def test_explicit_tls_false_wins_over_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_API_KEY", "k")
    monkeypatch.setenv("FIRELINE_TEMPORAL__TLS", "false")
    assert Settings.load().temporal_connect_kwargs().tls is False


def test_command_line_overrides_win_and_unset_options_are_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "fireline.yaml", CONFIG)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "env.example:7233")
    overrides = {"temporal": {"address": "cli.example:7233", "namespace": None, "api_key": None}}
    s = Settings.load(path, overrides=overrides)
    assert s.temporal.address == "cli.example:7233"
    assert s.temporal.namespace == "from-yaml"  # None means "option not given"
    with pytest.raises(ConfigError, match=r"temporal\.ports\.grpc"):
        Settings.load(path, overrides={"temporal": {"ports": {"grpc": -5}}})
