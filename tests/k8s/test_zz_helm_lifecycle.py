"""`helm uninstall` leaves no orphans in the namespace, and the release comes back whole
(runs last: the other tests need the release; it leaves the cluster as it found it)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.k8s.conftest import ROOT, SETTINGS, helm, kubectl, remove_probe, wait_until

KINDS = "deploy,statefulset,pod,svc,pvc,secret,configmap,job,pdb,serviceaccount,role,rolebinding"
DAPR_KINDS = "components.dapr.io,configurations.dapr.io,resiliencies.dapr.io,subscriptions.dapr.io"


def _left() -> list[str]:
    names = kubectl("get", f"{KINDS},{DAPR_KINDS}", "-o", "name").split()
    # Kubernetes' own per-namespace objects are not ours.
    return [n for n in names if n not in ("configmap/kube-root-ca.crt", "serviceaccount/default")]


def _volumes_of_namespace() -> list[str]:
    pvs = json.loads(kubectl("get", "pv", "-o", "json", namespaced=False))["items"]
    return [
        pv["metadata"]["name"]
        for pv in pvs
        if (pv["spec"].get("claimRef") or {}).get("namespace") == SETTINGS.namespace
    ]


@pytest.mark.timeout(900)
def test_uninstall_leaves_nothing_and_install_brings_it_back(cluster):
    assert _volumes_of_namespace(), "the release should hold volumes before"
    # The tests' own subscriber is not the release's: remove it, so what is left is ours.
    remove_probe()
    helm("uninstall", cluster.release, "--wait", "--timeout", "5m")
    try:
        # Deletion is asynchronous (pods terminate, the provisioner removes the volumes).
        try:
            wait_until(lambda: not _left() and not _volumes_of_namespace(), timeout=180, every=3)
        except pytest.fail.Exception:
            pass  # say precisely what is left, below
        assert _left() == [], f"left behind after uninstall: {_left()}"
        assert _volumes_of_namespace() == [], "volumes left behind"
    finally:
        done = subprocess.run(
            [str(ROOT / "runtime/kube/cluster.sh"), "install"],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    assert "workflow-host" in kubectl("get", "deploy", "-o", "name")
