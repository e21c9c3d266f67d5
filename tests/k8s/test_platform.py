"""What the cluster runs beneath our chart: Kubernetes v1.34.4 on the node image built here,
the Dapr 1.18.2 control plane from images built here with mTLS on, and a default
StorageClass that provisions (and deletes) volumes."""

from __future__ import annotations

import json

from tests.k8s.conftest import SETTINGS, kubectl, pod_of


def _cluster_json(*args: str) -> dict:
    return json.loads(kubectl(*args, "-o", "json", namespaced=False))


def test_the_node_runs_kubernetes_1_34_4_on_containerd():
    (node,) = _cluster_json("get", "nodes")["items"]
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == "v1.34.4"
    assert info["containerRuntimeVersion"].startswith("containerd://")
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert ready["Ready"] == "True"


def test_the_dapr_control_plane_is_1_18_2_built_here_with_mtls_on():
    pods = _cluster_json("get", "pods", "-n", "dapr-system")["items"]
    names = {p["metadata"]["labels"].get("app") for p in pods}
    assert {"dapr-operator", "dapr-placement-server", "dapr-scheduler-server"} <= names
    assert {"dapr-sentry", "dapr-sidecar-injector"} <= names
    for pod in pods:
        assert pod["status"]["phase"] == "Running", pod["metadata"]["name"]
        for c in pod["spec"]["containers"]:
            assert c["image"].startswith("snacktopus.local/dapr/") and c["image"].endswith(
                ":1.18.2"
            )
    config = _cluster_json("get", "configurations.dapr.io", "daprsystem", "-n", "dapr-system")
    assert config["spec"]["mtls"]["enabled"] is True


def test_every_sidecar_is_the_daprd_built_here(apps):
    for app in ("agent-shell", "workflow-host"):
        pod = _cluster_json("get", "-n", SETTINGS.namespace, pod_of(app))
        images = {c["name"]: c["image"] for c in pod["spec"]["containers"]}
        assert images["daprd"] == "snacktopus.local/dapr/daprd:1.18.2"
        assert images["app"].startswith("snacktopus/")
        # The pod waited for Redis (init container) instead of its sidecar exiting on it.
        restarts = {c["name"]: c["restartCount"] for c in pod["status"]["containerStatuses"]}
        assert restarts == {"app": 0, "daprd": 0}, (app, restarts)


def test_the_release_volumes_come_from_the_default_storage_class():
    classes = _cluster_json("get", "storageclass")["items"]
    default = [
        c["metadata"]["name"]
        for c in classes
        if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class")
        == "true"
    ]
    assert default == ["standard"]
    claims = _cluster_json("get", "pvc", "-n", SETTINGS.namespace)["items"]
    assert {c["metadata"]["name"] for c in claims} >= {"data-redis-0", "ollama-models"}
    assert all(c["status"]["phase"] == "Bound" for c in claims)
