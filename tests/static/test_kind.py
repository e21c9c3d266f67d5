"""The kind cluster's own files, checked without a cluster: kind-config.yaml agrees with the
NodePorts of the air-gapped values, and the node image's manifests are valid Kubernetes."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "runtime" / "kube" / "node" / "files"
KIND_CONFIG = yaml.safe_load((ROOT / "kind-config.yaml").read_text())


def test_kind_config_maps_every_node_port_of_the_airgap_profile_to_loopback():
    assert KIND_CONFIG["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert KIND_CONFIG["kind"] == "Cluster"
    # No pullable default CNI here: the node image brings its own.
    assert KIND_CONFIG["networking"]["disableDefaultCNI"] is True
    (node,) = KIND_CONFIG["nodes"]
    mapped = {m["containerPort"]: m for m in node["extraPortMappings"]}
    values = yaml.safe_load((ROOT / "charts/snacktopus/values-kind-airgap.yaml").read_text())
    ports = {values[k]["nodePort"] for k in ("agent", "workflow", "zipkin")}
    assert set(mapped) == ports
    assert all(m["listenAddress"] == "127.0.0.1" for m in mapped.values())
    # Beside a local stack (8001, 8002, 9411) on the same host.
    assert not {m["hostPort"] for m in mapped.values()} & {8001, 8002, 9411}


def test_the_bridge_network_fits_the_pod_subnet():
    conflist = json.loads((NODE / "10-snacktopus-bridge.conflist").read_text())
    (bridge,) = [p for p in conflist["plugins"] if p["type"] == "bridge"]
    subnet = ipaddress.ip_network(bridge["ipam"]["ranges"][0][0]["subnet"])
    assert subnet.subnet_of(ipaddress.ip_network(KIND_CONFIG["networking"]["podSubnet"]))


def test_the_default_storage_manifest_is_valid_and_a_default_class():
    text = (
        (NODE / "default-storage.yaml")
        .read_text()
        .replace("@LOCAL_PATH_PROVISIONER_VERSION@", "0.0.33")
    )
    docs = [d for d in yaml.safe_load_all(text) if d]
    for doc in docs:
        kubernetes_validate.validate(doc, "1.34.0", strict=True)
    (sc,) = [d for d in docs if d["kind"] == "StorageClass"]
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert sc["reclaimPolicy"] == "Delete"  # helm uninstall leaves no volume behind
    images = [
        c["image"]
        for d in docs
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    ]
    assert images and all(i.startswith("snacktopus.local/") for i in images)


def test_containerd_uses_the_preloaded_pause_image():
    text = (NODE / "containerd.toml").read_text()
    versions = dict(
        line.split("=", 1)
        for line in (ROOT / "runtime/versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert f'sandbox_image = "registry.k8s.io/pause:{versions["PAUSE_VERSION"]}"' in text
    assert "restrict_oom_score_adj = true" in text
