"""Overhead benchmark: the snacktopus workflow beside a bare Dapr workflow, and ``/ask``
beside a plain Dapr conversation call, in one run on the same runtime (``make bench``).

    .venv/bin/python loadtest/bench.py [--runs 30] [--concurrency 4] [--asks 30]

The local stack runs its *bench* profile: agent-shell's model is Dapr's
``conversation.echo`` component (the benchmark measures our code and Dapr, not SmolLM2),
every order is under the approval threshold (auto-approved), and a ``bare-bench`` app
(``loadtest/bare_workflow.py``, no Snacktopus code) runs trivial activities in the same
shape under its own sidecar, on the same daprd, placement, scheduler and Redis.

1. The activity count of one snacktopus run is measured from workflow-host's own step
   metrics; the bare workflow then runs exactly as many activities.
2. Both workflows are started through the same Dapr workflow HTTP API, ``--runs`` each,
   ``--concurrency`` in flight, and timed from the start call to ``COMPLETED``.
3. ``/ask`` and a plain ``converse`` call to ``llm-echo`` with the same question,
   ``--asks`` each, sequentially: the difference is the agent's own share.

Prints a table and writes ``loadtest/results/bench-<date>.json`` with
``workflow_p50_ratio`` (ours/bare), ``workflow_throughput_ratio`` (bare/ours: both read
"≤ 1 is ideal"), ``agent_overhead_p95_ms`` and the raw figures. Asserts nothing: the
targets live in the test plan.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from snacktopus_core.settings import StackSettings  # noqa: E402

from loadtest.stats import pct  # noqa: E402
from tools.devstack import Stack  # noqa: E402

console = Console(highlight=False)
ORDER = {"request": "snacks for 4 people", "headcount": 4, "budget_usd": 20}


def summary(latencies_ms: list[float], wall_s: float | None = None) -> dict[str, Any]:
    out = {
        "n": len(latencies_ms),
        "p50_ms": round(pct(latencies_ms, 50), 1),
        "p95_ms": round(pct(latencies_ms, 95), 1),
        "max_ms": round(max(latencies_ms), 1) if latencies_ms else None,
    }
    if wall_s is not None:
        out["wall_s"] = round(wall_s, 2)
        out["runs_per_s"] = round(len(latencies_ms) / wall_s, 3)
    return out


class Bench:
    def __init__(self, stack: Stack) -> None:
        s = stack.s
        self.s = s
        self.http = httpx.Client(timeout=120, headers=s.sidecar_headers())
        self.agent = f"http://127.0.0.1:{s.agent_app_port}"
        self.agent_dapr = f"http://127.0.0.1:{s.agent_dapr_http_port}"
        self.wf = f"http://127.0.0.1:{s.workflow_app_port}"
        self.sidecars = {
            "snacktopus": f"http://127.0.0.1:{s.workflow_dapr_http_port}",
            "bare": f"http://127.0.0.1:{s.bare_dapr_http_port}",
        }

    def one_run(self, kind: str, body: dict[str, Any]) -> float:
        """Start one instance through the Dapr workflow HTTP API; ms until COMPLETED."""
        base = f"{self.sidecars[kind]}/v1.0/workflows/dapr"
        iid = f"bench-{kind}-{uuid.uuid4().hex[:12]}"
        if kind == "snacktopus":
            body = {**body, "order_id": iid, "user_id": "bench-user"}
        t = time.perf_counter()
        self.http.post(f"{base}/{kind}/start", params={"instanceID": iid}, json=body)
        while True:
            state = self.http.get(f"{base}/{iid}").json()
            status = state.get("runtimeStatus")
            if status == "COMPLETED":
                elapsed = (time.perf_counter() - t) * 1000
                output = json.loads(state["properties"].get("dapr.workflow.output") or "null")
                # A run that refused its input also "completes": count only real orders.
                if kind == "snacktopus" and (output or {}).get("status") != "completed":
                    raise RuntimeError(f"{iid} ended {output}")
                return elapsed
            if status in {"FAILED", "TERMINATED"}:
                raise RuntimeError(f"{kind} {iid} ended {status}: {state}")
            time.sleep(0.02)

    def runs(self, kind: str, body: dict[str, Any], n: int, concurrency: int) -> dict[str, Any]:
        t = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            latencies = list(pool.map(lambda _: self.one_run(kind, body), range(n)))
        return summary(latencies, time.perf_counter() - t)

    def step_count(self) -> float:
        text = self.http.get(f"{self.wf}/metrics").text
        return sum(
            float(m)
            for m in re.findall(r"^snacktopus_workflow_step_seconds_count\{.*\} (\S+)$", text, re.M)
        )

    def asks(self, n: int) -> dict[str, Any]:
        user = f"bench-{uuid.uuid4().hex[:6]}"
        self.http.put(f"{self.agent}/profile/{user}", json={"budget_usd": 40}).raise_for_status()
        ask_ms, converse_ms = [], []
        for i in range(n):
            q = f"Snacks for {4 + i % 8} people"
            t = time.perf_counter()
            r = self.http.post(f"{self.agent}/ask", json={"user_id": user, "question": q})
            r.raise_for_status()
            ask_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            r = self.http.post(
                f"{self.agent_dapr}/v1.0-alpha2/conversation/llm-echo/converse",
                json={"inputs": [{"messages": [{"ofUser": {"content": [{"text": q}]}}]}]},
            )
            r.raise_for_status()
            converse_ms.append((time.perf_counter() - t) * 1000)
        return {"ask": summary(ask_ms), "converse": summary(converse_ms)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    stack = Stack(StackSettings())
    started = False
    if stack.supervisord_pid() is None:
        stack.up("bench", True, timeout=300)
        started = True
    elif stack.profile() != "bench":
        raise SystemExit(f"a '{stack.profile()}' stack is running: `make down` first")
    try:
        b = Bench(stack)
        console.print("warm-up: 3 runs of each workflow, 3 asks")
        before = b.step_count()
        b.runs("snacktopus", ORDER, 3, 1)
        activities = round((b.step_count() - before) / 3)
        b.runs("bare", {"activities": activities}, 3, 1)
        b.asks(3)
        console.print(f"one snacktopus run = {activities} activities; bare runs as many")
        console.print(f"{args.runs} runs of each, {args.concurrency} in flight")
        bare = b.runs("bare", {"activities": activities}, args.runs, args.concurrency)
        ours = b.runs("snacktopus", ORDER, args.runs, args.concurrency)
        console.print(f"{args.asks} asks and {args.asks} plain converse calls")
        agent = b.asks(args.asks)
    finally:
        if started:
            stack.down()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": len(os.sched_getaffinity(0)),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "params": {
            "runs": args.runs,
            "concurrency": args.concurrency,
            "asks": args.asks,
            "activities_per_run": activities,
            "llm": "conversation.echo",
        },
        "workflow_p50_ratio": round(ours["p50_ms"] / bare["p50_ms"], 2),
        "workflow_throughput_ratio": round(bare["runs_per_s"] / ours["runs_per_s"], 2),
        "agent_overhead_p95_ms": round(agent["ask"]["p95_ms"] - agent["converse"]["p95_ms"], 1),
        "agent_overhead_p50_ms": round(agent["ask"]["p50_ms"] - agent["converse"]["p50_ms"], 1),
        "bare_workflow": bare,
        "snacktopus_workflow": ours,
        "ask": agent["ask"],
        "converse": agent["converse"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--asks", type=int, default=30)
    args = parser.parse_args()
    for name in ("runs", "concurrency", "asks"):
        if not 1 <= getattr(args, name) <= 500:
            parser.error(f"--{name} must be between 1 and 500")
    result = run(args)
    table = Table(title=f"bench {result['date']}")
    for col in ("", "n", "p50 ms", "p95 ms", "runs/s"):
        table.add_column(col)
    for label, key in (
        ("bare workflow", "bare_workflow"),
        ("snacktopus workflow", "snacktopus_workflow"),
        ("/ask (echo model)", "ask"),
        ("plain converse (echo)", "converse"),
    ):
        r = result[key]
        table.add_row(
            label, str(r["n"]), str(r["p50_ms"]), str(r["p95_ms"]), str(r.get("runs_per_s", ""))
        )
    console.print(table)
    console.print(
        f"workflow_p50_ratio {result['workflow_p50_ratio']}  "
        f"workflow_throughput_ratio {result['workflow_throughput_ratio']}  "
        f"agent_overhead_p95_ms {result['agent_overhead_p95_ms']}"
    )
    out = ROOT / "loadtest" / "results" / f"bench-{datetime.now(UTC):%Y%m%d-%H%M}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
