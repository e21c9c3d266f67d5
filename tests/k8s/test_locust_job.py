"""The in-cluster Locust Job runs the whole scenario (auto, approved, rejected, timed out,
unsafe, taken in turn) with its own approver loop (one Locust user), against the Services
of two replicas per app. Every run it started must end in the terminal status its kind
says, with Redis (run record, ledger, released records) and the events agreeing, and the
stock counters whole. Turning it off again leaves nothing of it behind."""

from __future__ import annotations

import pytest

from tests.k8s import locust
from tests.k8s.conftest import judge_ended, kubectl, record_drill


@pytest.mark.timeout(1200)
def test_the_locust_job_ends_every_run_it_started_as_its_kind_says(cluster, http, apps, probe):
    job = locust.start(
        cluster,
        "check",
        "locust.users=3",
        "locust.spawnRate=3",
        "locust.runTime=60s",
        "locust.shopperWaitS={2,4}",
        f"locust.kinds={{{','.join(locust.EVERY_KIND)}}}",
    )
    try:
        run = locust.finish(job)
    finally:
        locust.stop(cluster)
    reqs, fails = run.succeeded()
    assert "POST /orders" in run.log and "POST dapr raiseEvent" in run.log
    kinds = {oid.split("-")[1] for oid in run.started}
    assert kinds == set(locust.EXPECTED), run.started
    verdict = judge_ended(http, apps, probe, {o: locust.expected(o) for o in run.started})
    record_drill(
        "locust_check",
        runs=len(run.started),
        requests=reqs,
        failures=fails,
        **verdict.counts(),
        ledger_entries=verdict.ledger_entries,
    )
    left = kubectl("get", "jobs,configmaps", "-l", "app.kubernetes.io/name=locust", "-o", "name")
    assert left == ""
