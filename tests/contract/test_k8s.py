"""The Kubernetes manifests in deploy/k8s: valid against the Kubernetes JSON schemas (strict, offline:
the schemas ship in the kubernetes-validate package) for the oldest and newest versions we support,
and in step with the code: the image and its user, the commands, the ports, the probes, and every
setting each process needs to start in prod."""
from __future__ import annotations

import base64
import copy
import importlib
import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from services import SERVICES, registry
from tests.contract.test_deploy import COMPOSE, RUNTIME_VARIABLES

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
VERSIONS = ("1.29.0", "1.37.0")
NOT_APPLIED = {"kustomization.yaml", "secret.example.yaml"}
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
DOCS = [(path.name, doc) for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def kind(name: str) -> list[dict]:
    return [doc for _, doc in DOCS if doc["kind"] == name]


def by_name(name: str, kind_: str) -> dict:
    [found] = [doc for doc in kind(kind_) if doc["metadata"]["name"] == name]
    return found


def container(deployment: dict) -> dict:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return only


CONFIG = by_name("carekey-config", "ConfigMap")["data"]
SECRET_KEYS = set(by_name("carekey-secrets", "Secret")["stringData"])


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path, doc", DOCS, ids=[f"{p}:{d['kind']}:{d['metadata']['name']}" for p, d in DOCS])
def test_every_manifest_is_valid_against_the_kubernetes_schemas(path, doc, version):
    kubernetes_validate.validate(doc, version, strict=True)


def test_the_schema_check_can_fail():
    deployment = copy.deepcopy(by_name("identity", "Deployment"))
    deployment["spec"]["replica"] = 2  # a typo: strict validation refuses unknown fields
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)
    deployment = copy.deepcopy(by_name("identity", "Deployment"))
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


def test_kustomization_applies_every_manifest_but_the_example_secret_and_names_the_image():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == {p.name for p in MANIFESTS} - NOT_APPLIED
    assert kustomization["namespace"] == "carekey"
    images = {c["image"].split(":")[0] for d in kind("Deployment") + kind("Job")
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {image["name"] for image in kustomization["images"]} == {"carekey"}
    assert all(doc["metadata"].get("namespace") == "carekey" for _, doc in DOCS if doc["kind"] != "Namespace")


@pytest.mark.parametrize("service", list(SERVICES))
def test_each_service_is_gunicorn_on_its_port_with_probes_service_budget_and_autoscaler(service):
    deployment = by_name(service, "Deployment")
    spec = container(deployment)
    assert spec["command"] == ["gunicorn", "-c", "deploy/gunicorn.conf.py", f"services.{service}.wsgi:app"]
    assert importlib.util.find_spec(f"services.{service}.wsgi") is not None
    [port] = spec["ports"]
    assert port == {"name": "http", "containerPort": SERVICES[service]}
    assert {"name": "PORT", "value": str(SERVICES[service])} in spec["env"]
    assert spec["livenessProbe"]["httpGet"] == spec["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert spec["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    labels = deployment["spec"]["selector"]["matchLabels"]
    assert labels.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    svc = by_name(service, "Service")
    assert svc["spec"]["selector"] == labels and svc["spec"]["ports"][0]["targetPort"] == "http"
    assert by_name(service, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == labels
    hpa = by_name(service, "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": service}
    assert hpa["minReplicas"] >= 2 and deployment["spec"]["replicas"] >= 2


def test_worker_relay_and_migration_run_commands_the_cli_has():
    from click.testing import CliRunner
    from services.cli import main
    worker = container(by_name("notifications-worker", "Deployment"))["command"]
    relay = container(by_name("outbox-relay", "Deployment"))["command"]
    for command in (worker, relay):
        assert command[0] == "carekey"
        result = CliRunner().invoke(main, [*command[1:], "--help"])
        assert result.exit_code == 0, result.output
    assert set(relay[2:]) == {s for s in SERVICES if registry.outbox(s) is not None}
    job = container(by_name("carekey-migrate", "Job"))["command"]
    assert job == ["sh", "-c", COMPOSE["services"]["migrate"]["command"][-1]]
    for name in ("notifications-worker", "outbox-relay"):
        assert by_name(name, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == \
            by_name(name, "Deployment")["spec"]["selector"]["matchLabels"]


def _schema_variables() -> set[str]:
    from shared.settings import CommonSchema, EnvSchema, service_schema
    names = {f.data_key for f in CommonSchema().fields.values()}
    for service, port in SERVICES.items():
        names |= {f.data_key for f in service_schema(service.upper(), port, service).fields.values()}
        module = importlib.import_module(f"services.{service}.settings")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, EnvSchema) and value is not EnvSchema:
                names |= {f.data_key for f in value().fields.values()}
    return names


def test_every_variable_in_the_manifests_is_a_setting_the_code_reads():
    named = set(CONFIG) | SECRET_KEYS
    for deployment in kind("Deployment") + kind("Job"):
        named |= {e["name"] for e in container(deployment).get("env", [])}
        named |= {e["valueFrom"]["secretKeyRef"]["key"] for e in container(deployment).get("env", [])
                  if "valueFrom" in e}
    unknown = named - _schema_variables() - RUNTIME_VARIABLES
    assert not unknown, f"variables no code reads: {unknown}"


def _valid_secret(key: str) -> str:
    """A value of the right shape for each secret (the example file holds placeholders on purpose)."""
    example = by_name("carekey-secrets", "Secret")["stringData"][key]
    if key.endswith("_DATABASE_URL") or key == "AMQP_URL":
        return example.replace("REPLACE-ME", "p4ssw0rd")
    if key == "IDENTITY_KEY_ENCRYPTION_KEY":
        return base64.b64encode(os.urandom(32)).decode()
    if key == "TWILIO_ACCOUNT_SID":
        return "AC" + secrets.token_hex(16)
    return secrets.token_urlsafe(32)


def environment(workload: dict) -> dict[str, str]:
    """What the process sees: the ConfigMap, its env (secret references resolved) and envFrom secrets."""
    spec = container(workload)
    env: dict[str, str] = {}
    for source in spec.get("envFrom", []):
        if "configMapRef" in source:
            assert source["configMapRef"]["name"] == "carekey-config"
            env.update(CONFIG)
        if "secretRef" in source:
            assert source["secretRef"]["name"] == "carekey-secrets"
            env.update({key: _valid_secret(key) for key in SECRET_KEYS})
    for item in spec.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "carekey-secrets" and ref["key"] in SECRET_KEYS, ref
            env[item["name"]] = _valid_secret(ref["key"])
    return env


NEEDS = {**{service: [service] for service in SERVICES}, "notifications-worker": ["notifications"],
         "outbox-relay": list(SERVICES), "carekey-migrate": list(SERVICES)}


@pytest.mark.parametrize("workload", list(NEEDS))
def test_each_process_has_every_setting_it_needs_to_start_in_prod(workload):
    found = [d for d in kind("Deployment") + kind("Job") if d["metadata"]["name"] == workload]
    env = environment(found[0])
    assert env["CAREKEY_ENV"] == "prod"
    for service in NEEDS[workload]:
        settings = registry.settings(service, env)  # raises SettingsError naming what is missing
        assert settings.public_url.startswith("https://")


def test_each_service_gets_only_its_own_secrets():
    for service in SERVICES:
        keys = {e["valueFrom"]["secretKeyRef"]["key"] for e in container(by_name(service, "Deployment"))["env"]
                if "valueFrom" in e}
        others = {k for k in keys if k.split("_")[0].lower() in SERVICES and not k.startswith(service.upper())}
        assert not others, f"{service} reads another service's secrets: {others}"


def test_pods_run_as_the_images_non_root_user_with_a_read_only_root_and_writable_tmp():
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    uid = int(re.search(r"useradd --system --uid (\d+)", dockerfile).group(1))
    metrics_dir = re.search(r"PROMETHEUS_MULTIPROC_DIR=(\S+)", dockerfile).group(1)
    for workload in kind("Deployment") + kind("Job"):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == uid
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        spec = container(workload)
        assert spec["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                           "capabilities": {"drop": ["ALL"]}}
        mounts = {m["mountPath"] for m in spec["volumeMounts"]}
        assert {"/tmp", metrics_dir} <= mounts, "gunicorn's heartbeat files and the metrics need somewhere to write"
        assert spec["resources"]["requests"].keys() >= {"cpu", "memory"} and "memory" in spec["resources"]["limits"]


def test_network_policy_denies_by_default_and_lets_web_traffic_in_on_the_named_port():
    policies = {p["metadata"]["name"]: p["spec"] for p in kind("NetworkPolicy")}
    assert policies["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    web = [p for p in policies.values() if p.get("ingress")]
    assert web and all(rule["ports"] == [{"protocol": "TCP", "port": "http"}] for p in web for rule in p["ingress"])
    selected = web[0]["podSelector"]["matchLabels"]
    web_deployments = {d["metadata"]["name"] for d in kind("Deployment")
                       if selected.items() <= d["spec"]["template"]["metadata"]["labels"].items()}
    assert web_deployments == set(SERVICES)


def test_ingress_serves_each_public_url_over_tls_to_its_service():
    [ingress] = kind("Ingress")
    tls_hosts = {host for entry in ingress["spec"]["tls"] for host in entry["hosts"]}
    routes = {rule["host"]: rule["http"]["paths"][0]["backend"]["service"] for rule in ingress["spec"]["rules"]}
    for service in SERVICES:
        host = urlsplit(CONFIG[f"{service.upper()}_PUBLIC_URL"]).hostname
        assert host in tls_hosts and routes[host] == {"name": service, "port": {"name": "http"}}
    assert CONFIG["RECORDS_IDENTITY_ISSUER"] == CONFIG["REGISTRATION_IDENTITY_ISSUER"] == CONFIG["IDENTITY_PUBLIC_URL"]
