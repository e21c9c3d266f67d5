"""Two replicas of each app (the kind profile), as a platform team runs them: spread by
``topologySpreadConstraints``, rolled with a surge, and sharing the work. Workflow runs are
Dapr actors placed over both workflow-host replicas by the placement service: each
replica's sidecar reports the runs it hosts (metadata API, ``actorRuntime.activeActors``)."""

from __future__ import annotations

import json

import pytest

from tests.k8s.conftest import (
    BIG_ORDER,
    kubectl,
    pods_of,
    start_order,
    wait_run,
    wait_until,
)

APPS = ("agent-shell", "workflow-host")


@pytest.mark.parametrize("app", APPS)
def test_each_app_runs_two_ready_replicas_spread_and_rolled_with_a_surge(app):
    deploy = json.loads(kubectl("get", "deploy", app, "-o", "json"))
    assert deploy["spec"]["replicas"] == 2
    assert deploy["status"].get("readyReplicas") == 2, deploy["status"]
    assert deploy["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    spread = deploy["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    }
    for c in spread:
        assert c["labelSelector"]["matchLabels"]["app.kubernetes.io/name"] == app
        assert c["matchLabelKeys"] == ["pod-template-hash"]
    assert len(pods_of(app)) == 2


def _hosted_runs(http, forwards, token: str, pod: str) -> int:
    """Workflow runs the pod's sidecar hosts now (its active workflow actors)."""
    meta = http.get(
        f"{forwards(pod, 3500).url}/v1.0/metadata", headers={"dapr-api-token": token}
    ).json()
    return sum(
        a["count"]
        for a in meta.get("actorRuntime", {}).get("activeActors", [])
        if a["type"].endswith(".workflow")
    )


@pytest.mark.timeout(600)
def test_runs_are_placed_over_both_workflow_host_replicas(http, apps, forwards, cli):
    pods = pods_of("workflow-host")
    assert len(pods) == 2
    orders = [start_order(http, apps, approval_timeout_s=900, **BIG_ORDER) for _ in range(8)]
    try:
        for order_id in orders:
            wait_run(http, apps, order_id, {"awaiting_approval"})
        hosted = wait_until(
            lambda: (
                (h := {p: _hosted_runs(http, forwards, apps.dapr_token, p) for p in pods})
                and all(h.values())
                and h
            ),
            timeout=60,
            every=2,
        )
        assert sum(hosted.values()) >= len(orders), hosted
    finally:
        refused = [
            (order_id, done.stderr)
            for order_id in orders
            if (done := cli("reject", order_id, "--reason", "placement test over")).returncode
        ]
    assert refused == []
    for order_id in orders:
        assert wait_run(http, apps, order_id)["status"] == "rejected"
