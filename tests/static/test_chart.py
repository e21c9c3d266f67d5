"""The Helm chart, checked with no cluster: helm lint and template for every values
profile, every rendered object validated against the Kubernetes v1.34 schemas and Dapr's
CRD schemas (both from files on disk), helm-unittest, and policy over the manifests."""

from __future__ import annotations

import os
import re
import subprocess
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "snacktopus"
CACHE = Path(os.environ.get("SNACKTOPUS_CACHE", Path.home() / ".cache" / "snacktopus"))
HELM = str(CACHE / "bin" / "helm")
KUBE_VERSION = "1.34.4"
PROFILES = ["default", "kind", "kind-airgap", "production"]
APP_IDS = {"agent-shell", "workflow-host"}


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HELM_PLUGINS": str(CACHE / "helm-plugins" / "active")}
    return subprocess.run([HELM, *args], capture_output=True, text=True, env=env, timeout=120)


def values_args(profile: str) -> list[str]:
    return [] if profile == "default" else ["-f", str(CHART / f"values-{profile}.yaml")]


class StrictLoader(yaml.SafeLoader):
    """Refuses duplicate mapping keys (PyYAML keeps the last one silently; the API server
    and helm-unittest do not)."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate keys {dup}", node.start_mark
            )
        return super().construct_mapping(node, deep=deep)


@cache
def rendered(profile: str, *extra: str) -> list[dict]:
    r = helm(
        "template",
        "snack",
        str(CHART),
        "-n",
        "snack",
        "--kube-version",
        KUBE_VERSION,
        *values_args(profile),
        *extra,
    )
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.load_all(r.stdout, Loader=StrictLoader) if d]


@cache
def dapr_crd_schemas() -> dict[str, dict]:
    """openAPIV3Schema of each Dapr CRD, from charts/dapr/crds in the Dapr v1.18.2 module."""
    modcache = subprocess.run(
        ["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True
    ).stdout.strip()
    crds = Path(modcache) / "github.com" / "dapr" / "dapr@v1.18.2" / "charts" / "dapr" / "crds"
    assert crds.is_dir(), f"{crds} missing: `make dev` downloads the Dapr module"
    schemas = {}
    for f in crds.glob("*.yaml"):
        for crd in yaml.safe_load_all(f.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            kind = crd["spec"]["names"]["kind"]
            for v in crd["spec"]["versions"]:
                schemas[f"{crd['spec']['group']}/{v['name']}/{kind}"] = v["schema"][
                    "openAPIV3Schema"
                ]
    return schemas


@pytest.mark.parametrize("profile", PROFILES)
def test_helm_lint_passes(profile):
    r = helm("lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION, *values_args(profile))
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("profile", PROFILES)
def test_every_object_validates_against_kubernetes_and_dapr_schemas(profile):
    docs = rendered(profile, "--set", "locust.enabled=true")
    dapr = dapr_crd_schemas()
    for doc in docs:
        what = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["apiVersion"].startswith("dapr.io/"):
            schema = dapr[f"{doc['apiVersion']}/{doc['kind']}"]
            jsonschema.validate(doc, schema)
        else:
            kubernetes_validate.validate(doc, KUBE_VERSION.rsplit(".", 1)[0] + ".0", strict=True)
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "snacktopus", what


def test_the_component_set_equals_components_dir_and_scopes_match_app_ids():
    docs = rendered("default")
    local = {
        (d["kind"], d["metadata"]["name"]): d
        for f in (ROOT / "components").glob("*.yaml")
        for d in [yaml.safe_load(f.read_text())]
    }
    chart = {(d["kind"], d["metadata"]["name"]): d for d in docs if "dapr.io" in d["apiVersion"]}
    assert set(chart) == set(local)
    for key, doc in chart.items():
        if doc["kind"] != "Component":
            continue
        assert doc.get("scopes"), f"{key} has no scopes"
        known = APP_IDS | {"event-probe", "bare-bench"}  # the last two exist only locally
        assert set(doc["scopes"]) <= known, key
        assert set(doc["scopes"]) & APP_IDS, key
        assert doc["scopes"] == local[key]["scopes"]
    secrets = chart[("Component", "snack-secrets")]
    assert secrets["spec"]["type"] == "secretstores.kubernetes"
    assert secrets["scopes"] == ["workflow-host"]
    rendered_text = yaml.safe_dump_all(docs)
    assert "${" not in rendered_text  # every placeholder filled


@pytest.mark.parametrize("profile", PROFILES)
def test_policy_over_the_rendered_pods(profile):
    docs = rendered(profile, "--set", "locust.enabled=true")
    workloads = [d for d in docs if d["kind"] in {"Deployment", "StatefulSet", "Job"}]
    assert {d["metadata"]["name"] for d in workloads} >= APP_IDS | {"redis", "ollama"}
    for w in workloads:
        spec = w["spec"]["template"]["spec"]
        name = w["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        for c in spec["containers"] + spec.get("initContainers", []):
            assert c["resources"]["limits"]["cpu"] and c["resources"]["limits"]["memory"], name
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], name
        if w["kind"] != "Job":
            for c in spec["containers"]:
                assert "readinessProbe" in c and "livenessProbe" in c, f"{name}/{c['name']}"
    apps = [w for w in workloads if w["metadata"]["name"] in APP_IDS]
    for w in apps:
        ann = w["spec"]["template"]["metadata"]["annotations"]
        assert ann["dapr.io/enabled"] == "true"
        assert ann["dapr.io/app-id"] == w["metadata"]["name"]
        for key in (
            "app-port",
            "config",
            "enable-metrics",
            "log-level",
            "sidecar-cpu-limit",
            "sidecar-memory-limit",
            "api-token-secret",
            "app-token-secret",
        ):
            assert ann.get(f"dapr.io/{key}"), f"{w['metadata']['name']} lacks dapr.io/{key}"
    pdbs = {d["metadata"]["name"] for d in docs if d["kind"] == "PodDisruptionBudget"}
    assert pdbs == {f"{a}-pdb" for a in APP_IDS}


def test_airgap_profile_never_pulls_and_uses_images_built_here():
    for doc in rendered("kind-airgap", "--set", "locust.enabled=true"):
        if doc["kind"] not in {"Deployment", "StatefulSet", "Job"}:
            continue
        spec = doc["spec"]["template"]["spec"]
        for c in spec["containers"] + spec.get("initContainers", []):
            assert c["imagePullPolicy"] == "Never"
            assert c["image"].startswith("snacktopus/"), c["image"]


def test_helm_unittest_suites_pass():
    r = helm("unittest", str(CHART))
    assert r.returncode == 0, r.stdout + r.stderr
    summary = re.search(r"^Tests:\s+(\d+) passed, (\d+) total", r.stdout, re.M)
    assert summary and summary[1] == summary[2] and int(summary[1]) >= 8, r.stdout


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("workflow.approvalTimeoutS=-1", "approvalTimeoutS"),
        ("agent.llmComponent=gpt", "llmComponent"),
        ("global.imagePullPolicy=Sometimes", "imagePullPolicy"),
        ("redis.persistence.size=big", "size"),
        ("typo=1", "typo"),
    ],
)
def test_values_schema_refuses_bad_values_with_the_field_named(setting, complaint):
    r = helm("template", "snack", str(CHART), "--kube-version", KUBE_VERSION, "--set", setting)
    assert r.returncode != 0
    assert complaint in r.stderr, r.stderr


def test_airgap_profile_imports_the_model_from_the_image_and_opens_node_ports():
    docs = {(d["kind"], d["metadata"]["name"]): d for d in rendered("kind-airgap")}
    ollama = docs[("Deployment", "ollama")]["spec"]["template"]["spec"]
    assert [c["name"] for c in ollama["initContainers"]] == ["import-model"]  # no pip fetch
    assert "FROM /opt/models/model.gguf" in ollama["initContainers"][0]["args"][0]
    for svc, port in (("agent-shell-api", 30801), ("workflow-host-api", 30802), ("zipkin", 30411)):
        spec = docs[("Service", svc)]["spec"]
        assert spec["type"] == "NodePort" and spec["ports"][0]["nodePort"] == port
    default = {(d["kind"], d["metadata"]["name"]): d for d in rendered("default")}
    assert "type" not in default[("Service", "agent-shell-api")]["spec"]
    fetch = default[("Deployment", "ollama")]["spec"]["template"]["spec"]["initContainers"]
    assert [c["name"] for c in fetch] == ["fetch-model", "import-model"]


def test_redis_volume_goes_with_the_release():
    (sts,) = [d for d in rendered("default") if d["kind"] == "StatefulSet"]
    policy = sts["spec"]["persistentVolumeClaimRetentionPolicy"]
    assert policy == {"whenDeleted": "Delete", "whenScaled": "Retain"}
