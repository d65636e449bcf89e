"""The Helm chart: rendered (deploy/tools/helm_template.py, no helm binary here), checked against
the Kubernetes schemas (kubernetes-validate) and against what fireline itself reads."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from engine.settings import Settings

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "fireline"
KUBERNETES_VERSIONS = ("1.25.0", "1.33.0")


def _load_renderer() -> ModuleType:
    """deploy/tools/helm_template.py (with its helper modules beside it)."""
    tools = str(REPO / "deploy" / "tools")
    if tools not in sys.path:
        sys.path.insert(0, tools)
    return importlib.import_module("helm_template")


helm = _load_renderer()


def render(values: dict[str, Any] | None = None, chart: Path = CHART) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = helm.manifests(helm.render_chart(chart, values or {}))
    return objects


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = only
    return result


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(deployment)["env"]}


CLOUD_API_KEY = {
    "temporal": {
        "address": "us-east-1.aws.api.temporal.io:7233",
        "namespace": "fireline-prod.a1b2c",
        "apiKey": {"existingSecret": "fireline-temporal"},
    },
    "elasticsearch": {"url": "https://es.example.internal:9200", "caSecret": "es-http-certs"},
    "secrets": {"existingSecret": "fireline-secrets"},
    "tracing": {"otlpEndpoint": "http://otel-collector.observability:4318"},
    "config": {"approverGroups": {"ml-oncall": ["U1", "U2"]}, "outputCapBytes": 1000000},
}
CLOUD_MTLS = {
    "temporal": {
        "address": "fireline-prod.a1b2c.tmprl.cloud:7233",
        "namespace": "fireline-prod.a1b2c",
        "mtls": {"enabled": True, "secretName": "fireline-temporal-mtls"},
    },
    "worker": {"autoscaling": {"enabled": False}, "replicaCount": 3},
    "secrets": {"values": {"SLACK_BOT_TOKEN": "xoxb-not-real", "ELASTICSEARCH_API_KEY": "a2V5"}},
}


@pytest.mark.parametrize(
    "values", [{}, CLOUD_API_KEY, CLOUD_MTLS], ids=["defaults", "cloud-api-key", "cloud-mtls"]
)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_is_valid_kubernetes(values: dict[str, Any], version: str) -> None:
    objects = render(values)
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_default_release_has_every_part() -> None:
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in render())
    assert kinds == [
        ("ConfigMap", "fireline-playbooks"),
        ("Deployment", "fireline-receiver"),
        ("Deployment", "fireline-worker"),
        ("HorizontalPodAutoscaler", "fireline-receiver"),
        ("HorizontalPodAutoscaler", "fireline-worker"),
        ("PodDisruptionBudget", "fireline-receiver"),
        ("PodDisruptionBudget", "fireline-worker"),
        ("Service", "fireline-receiver"),
        ("Service", "fireline-worker-metrics"),
        ("ServiceAccount", "fireline"),
    ]


def test_pods_run_non_root_on_a_read_only_root_with_limits_and_probes() -> None:
    for deployment in by_kind(render(), "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["automountServiceAccountToken"] is False
        c = container(deployment)
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert set(c["resources"]["limits"]) == {"cpu", "memory"}
        ports = {p["name"] for p in c["ports"]}
        for probe in ("livenessProbe", "readinessProbe"):
            assert c[probe]["httpGet"]["path"] in ("/healthz", "/readyz")
            assert c[probe]["httpGet"]["port"] in ports
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert {"/var/lib/fireline", "/tmp", "/etc/fireline/playbooks"} <= mounts  # writable places


def test_services_budgets_and_autoscalers_point_at_the_right_pods() -> None:
    objects = render()
    deployments = by_kind(objects, "Deployment")
    pod_labels = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments.items()}

    def selects(selector: dict[str, str]) -> list[str]:
        return [n for n, labels in pod_labels.items() if selector.items() <= labels.items()]

    service = by_kind(objects, "Service")["fireline-receiver"]
    assert selects(service["spec"]["selector"]) == ["fireline-receiver"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    for name, pdb in by_kind(objects, "PodDisruptionBudget").items():
        assert selects(pdb["spec"]["selector"]["matchLabels"]) == [name]
    for name, hpa in by_kind(objects, "HorizontalPodAutoscaler").items():
        assert hpa["spec"]["scaleTargetRef"]["name"] == name in deployments
        assert "replicas" not in deployments[name]["spec"]  # the autoscaler owns the count
    worker = deployments["fireline-worker"]
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 60
    assert worker["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "9464"


def test_the_playbooks_configmap_mounts_every_file_as_it_is() -> None:
    objects = render()
    config_map = by_kind(objects, "ConfigMap")["fireline-playbooks"]
    volume = next(
        v
        for v in by_kind(objects, "Deployment")["fireline-worker"]["spec"]["template"]["spec"]["volumes"]
        if v["name"] == "playbooks"
    )
    items = {i["key"]: i["path"] for i in volume["configMap"]["items"]}
    assert set(items) == set(config_map["data"])
    repo_files = {
        p.relative_to(REPO / "playbooks").as_posix() for p in (REPO / "playbooks").rglob("*") if p.is_file()
    }
    assert set(items.values()) == repo_files
    for key, path in items.items():
        assert config_map["data"][key] == (REPO / "playbooks" / path).read_text()


def test_changing_a_playbook_rolls_the_pods(tmp_path: Path) -> None:
    chart = tmp_path / "fireline"
    shutil.copytree(CHART, chart, symlinks=False)
    before = render(chart=chart)
    (chart / "playbooks" / "prompt-injection-response.yaml").write_text("# edited\n", encoding="utf-8")
    after = render(chart=chart)

    def checksum(objects: list[dict[str, Any]]) -> str:
        annotations = by_kind(objects, "Deployment")["fireline-worker"]["spec"]["template"]["metadata"][
            "annotations"
        ]
        value: str = annotations["checksum/playbooks"]
        return value

    assert checksum(before) != checksum(after)


def _settings_from_pod(deployment: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as fireline would load them inside the pod (secret references get test values)."""
    for name, value in env_of(deployment).items():
        monkeypatch.setenv(name, value if isinstance(value, str) else f"from-secret-{name}")
    return Settings.load()


def test_the_pod_environment_is_configuration_fireline_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    worker = by_kind(render(CLOUD_API_KEY), "Deployment")["fireline-worker"]
    env = env_of(worker)
    assert env["TEMPORAL_API_KEY"] == {
        "secretKeyRef": {"name": "fireline-temporal", "key": "TEMPORAL_API_KEY"}
    }
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4318"
    assert container(worker)["envFrom"] == [{"secretRef": {"name": "fireline-secrets"}}]
    settings = _settings_from_pod(worker, monkeypatch)
    args = settings.temporal_connect_kwargs()
    assert (args.target_host, args.namespace, args.tls) == (
        "us-east-1.aws.api.temporal.io:7233",
        "fireline-prod.a1b2c",
        True,
    )
    assert args.api_key == "from-secret-TEMPORAL_API_KEY"
    assert settings.approver_groups == {"ml-oncall": ["U1", "U2"]}
    assert settings.output_cap_bytes == 1000000  # not 1e+06: numbers from values are piped through int
    assert settings.elasticsearch.ca_file == Path("/etc/fireline/elasticsearch-ca/ca.crt")
    assert settings.playbooks_dir == Path("/etc/fireline/playbooks")


def test_mtls_mounts_the_certificate_where_the_settings_point(monkeypatch: pytest.MonkeyPatch) -> None:
    objects = render(CLOUD_MTLS)
    worker = by_kind(objects, "Deployment")["fireline-worker"]
    pod = worker["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "temporal-tls"]
    assert volume["secret"]["secretName"] == "fireline-temporal-mtls"
    (mount,) = [m for m in container(worker)["volumeMounts"] if m["name"] == "temporal-tls"]
    settings = _settings_from_pod(worker, monkeypatch)
    assert settings.temporal.tls_cert == Path(mount["mountPath"]) / "tls.crt"
    assert settings.temporal.tls_key == Path(mount["mountPath"]) / "tls.key"
    assert worker["spec"]["replicas"] == 3
    assert "fireline-worker" not in by_kind(objects, "HorizontalPodAutoscaler")
    secret = by_kind(objects, "Secret")["fireline-secrets"]
    assert set(secret["data"]) == {"SLACK_BOT_TOKEN", "ELASTICSEARCH_API_KEY"}
    assert "xoxb-not-real" not in yaml.safe_dump(secret)  # base64, as Kubernetes wants


def test_mtls_without_a_secret_is_refused_with_a_message() -> None:
    with pytest.raises(helm.TemplateError, match=r"temporal\.mtls\.secretName is required"):
        render({"temporal": {"mtls": {"enabled": True}}})


@pytest.mark.parametrize(
    "values",
    [
        {"temporal": {"address": "no-port"}},
        {"worker": {"replicaCount": -1}},
        {"receiver": {"service": {"type": "Ingress"}}},
        {"config": {"logLevel": "LOUD"}},
        {"secrets": {"values": {"not a name": "x"}}},
        {"unknownKey": True},
    ],
    ids=["address", "replicas", "service-type", "log-level", "secret-name", "unknown-key"],
)
def test_the_values_schema_refuses_wrong_values(values: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        render(values)


def test_an_existing_configmap_replaces_the_built_in_playbooks() -> None:
    objects = render({"playbooks": {"existingConfigMap": "team-playbooks"}})
    assert "ConfigMap" not in {o["kind"] for o in objects}
    volume = next(
        v
        for v in by_kind(objects, "Deployment")["fireline-receiver"]["spec"]["template"]["spec"]["volumes"]
        if v["name"] == "playbooks"
    )
    assert volume["configMap"] == {"name": "team-playbooks"}


def test_the_renderer_prints_numbers_as_helm_does() -> None:
    assert [helm.go_str(float(v)) for v in (262144, 1000000, 1234567, 3)] == [
        "262144",
        "1e+06",
        "1.234567e+06",
        "3",
    ]
    assert helm.go_str(0.5) == "0.5" and helm.go_str(None) == "" and helm.go_str(True) == "true"
