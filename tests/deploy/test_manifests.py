"""The rendered Kubernetes manifests keep their security promises: limits
and probes everywhere, no service-account tokens, no privilege beyond the
executor's documented capabilities, network policies that wall the
executor off, and a settings file every service understands."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.settings import ServerSettings
from services.launcher import SERVICES, settings_class

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
EXECUTOR_CAPABILITIES = {"SYS_ADMIN", "SETUID", "SETGID", "CHOWN", "FOWNER", "DAC_OVERRIDE", "KILL"}
WORKLOADS = {"Deployment", "StatefulSet"}


def render(path: Path) -> list[dict[str, Any]]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl renders kustomize")
    done = subprocess.run(
        ["kubectl", "kustomize", str(path)], capture_output=True, text=True, check=True
    )
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    overlay = K8S / "overlays" / "production"
    secrets = overlay / "secrets"
    made = not secrets.exists()
    if made:
        shutil.copytree(overlay / "secrets.example", secrets)
    try:
        yield render(overlay)
    finally:
        if made:
            shutil.rmtree(secrets)


@pytest.fixture(scope="module", params=["dev", "production"])
def overlay(
    request: pytest.FixtureRequest, production: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    return production if request.param == "production" else render(K8S / "overlays" / "dev")


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in WORKLOADS]


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def test_every_service_is_deployed(overlay: list[dict[str, Any]]) -> None:
    names = {w["metadata"]["name"] for w in workloads(overlay)}
    assert names == {f"codeact-{s}" for s in SERVICES}
    executor = next(w for w in workloads(overlay) if w["metadata"]["name"] == "codeact-executor")
    assert executor["kind"] == "StatefulSet"
    assert executor["spec"]["serviceName"] == "codeact-executor-pods"
    headless = next(d for d in overlay if d["metadata"]["name"] == "codeact-executor-pods")
    assert headless["spec"]["clusterIP"] == "None"


def test_every_container_has_limits_and_grpc_probes(overlay: list[dict[str, Any]]) -> None:
    for workload in workloads(overlay):
        for container in containers(workload):
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[kind]), (
                    workload["metadata"]["name"],
                    kind,
                )
            port = container["ports"][0]["containerPort"]
            assert container["readinessProbe"]["grpc"]["port"] == port
            assert container["livenessProbe"]["grpc"]["port"] == port


def test_no_token_and_no_host_access(overlay: list[dict[str, Any]]) -> None:
    for workload in workloads(overlay):
        spec = workload["spec"]["template"]["spec"]
        assert spec["automountServiceAccountToken"] is False
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key)
        assert all("hostPath" not in v for v in spec.get("volumes", []))


def test_only_the_executor_has_privileges_and_only_those_documented(
    overlay: list[dict[str, Any]],
) -> None:
    for workload in workloads(overlay):
        pod = workload["spec"]["template"]["spec"]
        for container in containers(workload):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert not context.get("privileged")
            assert context["capabilities"]["drop"] == ["ALL"]
            if workload["metadata"]["name"] == "codeact-executor":
                assert set(context["capabilities"]["add"]) <= EXECUTOR_CAPABILITIES
                continue
            assert "add" not in context["capabilities"]
            assert context["allowPrivilegeEscalation"] is False
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"


def test_production_walls_the_executor_off(production: list[dict[str, Any]]) -> None:
    policies = {d["metadata"]["name"]: d for d in production if d["kind"] == "NetworkPolicy"}
    deny = policies["codeact-default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    executor = policies["codeact-executor"]["spec"]
    assert "Egress" in executor["policyTypes"] and executor["egress"] == []
    callers = [
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for rule in executor["ingress"]
        if rule.get("from") and "podSelector" in rule["from"][0]
        for peer in rule["from"]
    ]
    assert callers == ["codeact-agent"]
    assert {f"codeact-{s}" for s in SERVICES} <= set(policies)


def test_production_has_budgets_autoscaling_and_replicas(production: list[dict[str, Any]]) -> None:
    budgets = {d["metadata"]["name"] for d in production if d["kind"] == "PodDisruptionBudget"}
    assert budgets == {f"codeact-{s}" for s in SERVICES}
    scaled = {
        d["spec"]["scaleTargetRef"]["name"]
        for d in production
        if d["kind"] == "HorizontalPodAutoscaler"
    }
    assert scaled == {"codeact-agent", "codeact-executor"}
    assert all(w["spec"]["replicas"] >= 2 for w in workloads(production))


def test_the_tenant_template() -> None:
    docs = {d["kind"]: d for d in render(K8S / "tenant-template")}
    labels = docs["Namespace"]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert docs["ResourceQuota"]["spec"]["hard"]["limits.memory"]
    assert docs["LimitRange"]["spec"]["limits"][0]["default"]
    assert docs["NetworkPolicy"]["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
    }


def test_every_service_understands_the_config_file(overlay: list[dict[str, Any]]) -> None:
    config = next(
        d for d in overlay if d["kind"] == "ConfigMap" and "config.toml" in d.get("data", {})
    )
    tables = tomllib.loads(config["data"]["config.toml"])
    server_fields = {f.name for f in dataclasses.fields(ServerSettings)}
    assert set(tables["server"]) <= server_fields
    for service in SERVICES:
        fields = {f.name for f in dataclasses.fields(settings_class(service))}
        assert set(tables.get(service, {})) <= fields, service


def test_the_image_sets_only_real_settings_and_copies_what_exists() -> None:
    dockerfile = (K8S.parent / "docker" / "Dockerfile").read_text()
    for name in set(re.findall(r"CODEACT_([A-Z]+)_([A-Z_]+)=", dockerfile)):
        service, field = name[0].lower(), name[1].lower()
        assert field in {f.name for f in dataclasses.fields(settings_class(service))}, name
    root = K8S.parents[1]
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.M):
        for path in source.split():
            assert (root / path).exists(), path
