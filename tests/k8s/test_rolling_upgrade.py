"""A rolling upgrade of both apps (a changed image) under the in-cluster Locust load, with
orders waiting for a human: the Deployments surge a new pod before they stop an old one,
each old pod drains (preStop, the sidecar's block-shutdown), and zero orders fail, none is
lost, none is placed twice (judged by the ledger and the stock counters)."""

from __future__ import annotations

import subprocess

import pytest

from tests.k8s import locust
from tests.k8s.conftest import (
    BIG_ORDER,
    app_image,
    judge_ended,
    kubectl,
    load_images,
    pods_of,
    record_drill,
    rollout_complete,
    start_order,
    upgrade,
    wait_run,
    wait_until,
)

APPS = ("agent-shell", "workflow-host")


def _changed_images() -> str:
    """The apps' images under another tag (the same build: what changes is the pod spec
    a rollout sees), loaded into the node. Returns the tag."""
    tag = app_image("workflow-host").rsplit(":", 1)[1]
    new = tag.removesuffix("-rolled") if tag.endswith("-rolled") else f"{tag}-rolled"
    images = []
    for app in APPS:
        old = app_image(app)
        images.append(f"{old.rsplit(':', 1)[0]}:{new}")
        subprocess.run(["docker", "tag", old, images[-1]], check=True, timeout=60)
    load_images(*images)
    return new


@pytest.mark.timeout(1800)
def test_a_rolling_upgrade_under_load_fails_loses_and_doubles_nothing(
    cluster, http, apps, probe, cli
):
    tag = _changed_images()
    before = {app: set(pods_of(app)) for app in APPS}
    waiting = [start_order(http, apps, approval_timeout_s=900, **BIG_ORDER) for _ in range(2)]
    for order_id in waiting:
        wait_run(http, apps, order_id, {"awaiting_approval"})
    job = locust.start(
        cluster,
        "roll",
        "locust.users=3",
        "locust.spawnRate=3",
        "locust.runTime=180s",
        "locust.shopperWaitS={2,4}",
        f"locust.kinds={{{','.join(locust.EVERY_KIND)}}}",
    )
    try:
        # Let the load reach a steady state, then roll both apps under it.
        wait_until(
            lambda: kubectl("get", job, "-o", "jsonpath={.status.ready}") == "1" or None,
            timeout=120,
            every=2,
        )
        upgrade(cluster, f"agent.image.tag={tag}", f"workflow.image.tag={tag}")
        rollout_complete(*APPS)
        for app in APPS:
            now = set(pods_of(app))
            assert len(now) == 2 and not now & before[app], (app, before[app], now)
            assert app_image(app).endswith(f":{tag}")
        for order_id in waiting:
            done = wait_until(
                lambda o=order_id: (
                    (d := cli("approve", o, "--comment", "after the roll"))
                    and d.returncode == 0
                    and d
                ),
                timeout=240,
                every=5,
            )
            assert done.returncode == 0
        run = locust.finish(job)
    finally:
        locust.stop(cluster)
    reqs, fails = run.succeeded()
    orders = [*waiting, *run.started]
    want = dict.fromkeys(waiting, "completed") | {o: locust.expected(o) for o in run.started}
    verdict = judge_ended(http, apps, probe, want)
    assert "failed" not in verdict.statuses.values()
    record_drill(
        "rolling_upgrade_under_load",
        orders=len(orders),
        waiting=len(waiting),
        requests=reqs,
        failures=fails,
        **verdict.counts(),
        ledger_entries=verdict.ledger_entries,
        doubled=0,
        lost=0,
    )
