"""How the kind cluster scales: sustained runs/s with 1 and with 2 replicas per app, under
the chart's in-cluster Locust Job, on the echo model (so the one Ollama is not the
bottleneck). ``make bench-k8s-scaling`` (needs ``make kind-up helm-install``).

For each replica count: ``helm upgrade --reuse-values`` (replicas, ``llm-echo``, a Locust
Job of auto-approved orders with short waits), wait for the Job, read the order ids it
printed, wait for every run to end, and take the run records' times: runs/s is the
completed runs over the span from the first start to the last finish. Writes
``loadtest/results/k8s-scaling-<ts>.json`` and prints the ratio; asserts nothing. The
release is put back as it was (its values before the first upgrade) at the end.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path.home() / ".cache/snacktopus/bin"
CTX, NS, RELEASE = "kind-snacktopus", "snacktopus", "snacktopus"
CHART, VALUES = ROOT / "charts/snacktopus", ROOT / "charts/snacktopus/values-kind-airgap.yaml"


def sh(*cmd: str, timeout: float = 900, **kw) -> str:
    return subprocess.run(
        cmd, check=True, capture_output=True, text=True, timeout=timeout, **kw
    ).stdout


def kubectl(*args: str, **kw) -> str:
    return sh(str(BIN / "kubectl"), "--context", CTX, "-n", NS, *args, **kw)


def helm(*args: str) -> str:
    return sh(str(BIN / "helm"), "--kube-context", CTX, "-n", NS, *args)


def upgrade(*sets: str) -> None:
    args = [
        "upgrade",
        RELEASE,
        str(CHART),
        "-f",
        str(VALUES),
        "--reuse-values",
        "--wait",
        "--timeout=10m",
    ]
    for s in sets:
        args += ["--set", s]
    helm(*args)


def load(replicas: int, users: int, run_time: str) -> list[str]:
    """One Locust Job at ``replicas`` per app; the order ids it started."""
    run_id = f"scale-{replicas}-{int(time.time())}"
    upgrade(
        f"agent.replicas={replicas}",
        f"workflow.replicas={replicas}",
        "agent.llmComponent=llm-echo",
        "locust.enabled=true",
        f"locust.runId={run_id}",
        f"locust.users={users}",
        f"locust.spawnRate={users}",
        f"locust.runTime={run_time}",
        "locust.kinds={auto}",
        "locust.shopperWaitS={0,1}",
    )
    job = f"job/{RELEASE}-snacktopus-locust-{run_id}"
    while kubectl("get", job, "-o", "jsonpath={.status.succeeded}{.status.failed}") == "":
        time.sleep(3)
    log = kubectl("logs", job)
    upgrade("locust.enabled=false", "locust.runId=")
    return re.findall(r"^started: (\S+)$", log, re.M)


@contextmanager
def workflow_api() -> Iterator[str]:
    """A port-forward to workflow-host's Service, opened after an upgrade (one opened
    before may point at a pod the upgrade removed); stopped by its pid."""
    proc = subprocess.Popen(
        [
            str(BIN / "kubectl"),
            "--context",
            CTX,
            "-n",
            NS,
            "port-forward",
            "svc/workflow-host-api",
            ":8002",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        found = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not found:
            raise SystemExit(f"port-forward said: {line!r}")
        yield f"http://127.0.0.1:{found[1]}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def runs_per_s(orders: list[str]) -> dict:
    records = []
    with workflow_api() as url, httpx.Client(timeout=30) as http:
        for oid in orders:
            for _ in range(300):
                run = http.get(f"{url}/orders/{oid}").json().get("run") or {}
                if run.get("finished_at"):
                    records.append(run)
                    break
                time.sleep(1)
    done = [r for r in records if r["status"] == "completed"]
    t = lambda s: datetime.fromisoformat(s).timestamp()  # noqa: E731
    span = max(t(r["finished_at"]) for r in done) - min(t(r["started_at"]) for r in done)
    return {
        "started": len(orders),
        "completed": len(done),
        "span_s": round(span, 1),
        "runs_per_s": round(len(done) / span, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--run-time", default="90s")
    args = parser.parse_args()
    before = json.loads(helm("get", "values", RELEASE, "-o", "json"))
    result = {"users": args.users, "run_time": args.run_time, "model": "llm-echo"}
    try:
        for replicas in (1, 2):
            result[f"replicas_{replicas}"] = runs_per_s(load(replicas, args.users, args.run_time))
            print(replicas, result[f"replicas_{replicas}"], flush=True)
    finally:
        values = ROOT / ".run" / "k8s-values-before.json"
        values.parent.mkdir(exist_ok=True)
        values.write_text(json.dumps(before))
        helm("upgrade", RELEASE, str(CHART), "-f", str(values), "--wait", "--timeout=10m")
    one, two = result["replicas_1"]["runs_per_s"], result["replicas_2"]["runs_per_s"]
    result["scaling_ratio_2_over_1"] = round(two / one, 2)
    out = ROOT / "loadtest/results" / f"k8s-scaling-{time.strftime('%Y%m%d-%H%M')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"runs/s 1 replica {one}, 2 replicas {two}: ratio {result['scaling_ratio_2_over_1']}"
        f" -> {out.relative_to(ROOT)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
