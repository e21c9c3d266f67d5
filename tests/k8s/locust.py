"""The chart's in-cluster Locust Job, driven from the tests: start it with ``helm upgrade``
(named by ``locust.runId``, so a later upgrade leaves it running), wait for it, read what
it printed (its summary and every order id it started), turn it off again."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.k8s.conftest import ROOT, K8sTestSettings, kubectl, upgrade, wait_until

OUT = ROOT / ".run" / "k8s"
EVERY_KIND = ["reject", "timeout", "unsafe", "approve", "auto"]
# What each kind of the scenario ends as (the kind is written into the order id).
EXPECTED = {
    "auto": "completed",
    "approve": "completed",
    "reject": "rejected",
    "timeout": "timed_out",
    "unsafe": "blocked",
}


def expected(order_id: str) -> str:
    return EXPECTED[order_id.split("-")[1]]


@dataclass
class LocustRun:
    job: str
    status: str  # "<succeeded>/<failed>"
    log: str
    started: list[str]

    def succeeded(self) -> tuple[int, int]:
        """Asserts the Job succeeded with requests and no failure; (requests, failures)."""
        assert self.status == "1/", f"the Locust Job failed:\n{self.log[-4000:]}"
        reqs, fails = self.requests_and_failures
        assert reqs > 0 and fails == 0, self.log[-3000:]
        return reqs, fails

    @property
    def requests_and_failures(self) -> tuple[int, int]:
        agg = [line for line in self.log.splitlines() if line.strip().startswith("Aggregated")]
        assert agg, self.log[-3000:]
        reqs, fails = (int(x) for x in re.findall(r"\d+", agg[0].split("|")[0])[:2])
        return reqs, fails


def start(cluster: K8sTestSettings, run_id: str, *sets: str) -> str:
    """Starts the Job ``locust-<run_id>``; returns its name (``job/...``)."""
    upgrade(cluster, "locust.enabled=true", f"locust.runId={run_id}", *sets)
    return f"job/{cluster.release}-snacktopus-locust-{run_id}"


def finish(job: str, timeout: float = 600) -> LocustRun:
    def finished():
        status = kubectl("get", job, "-o", "jsonpath={.status.succeeded}/{.status.failed}")
        return status if status != "/" else None

    status = wait_until(finished, timeout=timeout, every=3)
    log = kubectl("logs", job, timeout=120)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{job.split('/')[-1]}.txt").write_text(log)
    started = re.findall(r"^started: (\S+)$", log, re.M)
    return LocustRun(job, status, log, started)


def stop(cluster: K8sTestSettings) -> None:
    upgrade(cluster, "locust.enabled=false", "locust.runId=")
