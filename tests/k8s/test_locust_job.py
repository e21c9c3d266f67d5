"""The in-cluster Locust Job: the chart's locust Job runs the same scenario as `make load`,
bounded in users and time, against the Services; its summary is collected from the pod.
Turning it off again with `helm upgrade` leaves nothing of it behind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.k8s.conftest import ROOT, helm, kubectl, wait_until

CHART = "charts/snacktopus"
VALUES = "charts/snacktopus/values-kind-airgap.yaml"
OUT = ROOT / ".run" / "k8s"


def _upgrade(cluster, *sets: str) -> None:
    args = ["upgrade", cluster.release, CHART, "-f", VALUES, "--reuse-values", "--wait"]
    for s in sets:
        args += ["--set", s]
    helm(*args)


@pytest.mark.timeout(900)
def test_the_locust_job_runs_a_bounded_load_and_reports_it(cluster, apps):
    _upgrade(
        cluster,
        "locust.enabled=true",
        "locust.users=2",
        "locust.spawnRate=2",
        "locust.runTime=45s",
    )
    try:
        job = wait_until(
            lambda: kubectl("get", "jobs", "-l", "app.kubernetes.io/name=locust", "-o", "name"),
            timeout=60,
            every=0.5,
        ).split()[-1]

        def finished():
            status = kubectl("get", job, "-o", "jsonpath={.status.succeeded}/{.status.failed}")
            return status if status != "/" else None

        status = wait_until(finished, timeout=420, every=3)
        log = kubectl("logs", job)
        OUT.mkdir(parents=True, exist_ok=True)
        Path(OUT / "locust-summary.txt").write_text(log)
        assert status == "1/", f"the Locust Job failed:\n{log[-4000:]}"
        agg = [line for line in log.splitlines() if line.strip().startswith("Aggregated")]
        assert agg, log[-3000:]
        reqs, fails = (int(x) for x in re.findall(r"\d+", agg[0].split("|")[0])[:2])
        assert reqs > 0
        # Locust exits non-zero on any failure, so a complete Job already says 0; say it again.
        assert fails == 0, agg[0]
        assert "POST /orders" in log and "POST /ask" in log
    finally:
        _upgrade(cluster, "locust.enabled=false")
    assert (
        kubectl("get", "jobs,configmaps", "-l", "app.kubernetes.io/name=locust", "-o", "name") == ""
    )
