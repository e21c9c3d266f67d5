"""A short benchmark of the two apps on the real local stack; prints figures, asserts none.

    .venv/bin/python loadtest/quick_bench.py [--asks 12] [--orders 20] [--concurrency 4]

- ``/ask``: sequential asks; p50/p95 of the whole request and of the part spent outside
  the model call (request time minus the agent's own LLM time, ``llm_ms``).
- orders: auto-approved runs (under the approval threshold) started ``--concurrency`` at a
  time; end-to-end latency (POST to terminal status in the run record) and runs per second.

Starts the stack if none runs (and stops it after); results go to
``loadtest/results/quick-<date>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from snacktopus_core.contracts import TERMINAL  # noqa: E402

from loadtest.stats import pct  # noqa: E402
from tools.devstack import Stack  # noqa: E402
from tools.stack_settings import StackSettings  # noqa: E402

QUESTIONS = [
    "Snacks for {n} people",
    "Something healthy for {n} people",
    "Fruit for {n} people",
    "Savory snacks for {n} people under $40",
    "Drinks and chips for {n} people",
    "Gluten-free treats for {n} people",
]


def bench_asks(http: httpx.Client, base: str, n: int) -> dict:
    user = f"bench-{uuid.uuid4().hex[:6]}"
    http.put(f"{base}/profile/{user}", json={"allergies": ["peanut"]}).raise_for_status()
    totals, outside, degraded = [], [], 0
    for i in range(n):
        q = QUESTIONS[i % len(QUESTIONS)].format(n=4 + i % 10)
        t = time.perf_counter()
        r = http.post(f"{base}/ask", json={"user_id": user, "question": q})
        ms = (time.perf_counter() - t) * 1000
        r.raise_for_status()
        body = r.json()
        totals.append(ms)
        if body["degraded"]:
            degraded += 1
        else:
            outside.append(ms - (body["llm_ms"] or 0))
    return {
        "n": n,
        "degraded": degraded,
        "total_p50_ms": pct(totals, 50),
        "total_p95_ms": pct(totals, 95),
        "outside_model_p50_ms": pct(outside, 50),
        "outside_model_p95_ms": pct(outside, 95),
        "outside_model_share_p50": pct(outside, 50) / pct(totals, 50) if outside else None,
    }


def bench_orders(base: str, n: int, concurrency: int) -> dict:
    user = f"bench-{uuid.uuid4().hex[:6]}"

    def one(i: int) -> tuple[float, str]:
        with httpx.Client(timeout=300) as c:
            order_id = f"bench-{uuid.uuid4().hex[:12]}"
            t = time.perf_counter()
            c.post(
                f"{base}/orders",
                json={
                    "order_id": order_id,
                    "user_id": user,
                    "request": f"snacks for {3 + i % 3} people",
                    "headcount": 3 + i % 3,
                    "budget_usd": 15,
                },
            ).raise_for_status()
            while True:
                run = c.get(f"{base}/orders/{order_id}").json().get("run") or {}
                if run.get("status") in TERMINAL:
                    return (time.perf_counter() - t) * 1000, run["status"]
                time.sleep(0.1)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(n)))
    wall = time.perf_counter() - t0
    lat = [ms for ms, _ in results]
    statuses = {s: sum(1 for _, x in results if x == s) for s in {x for _, x in results}}
    return {
        "n": n,
        "concurrency": concurrency,
        "statuses": statuses,
        "e2e_p50_ms": pct(lat, 50),
        "e2e_p95_ms": pct(lat, 95),
        "runs_per_s": n / wall,
        "wall_s": wall,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--asks", type=int, default=12)
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    settings = StackSettings()
    with Stack(settings).borrowed("dev"):
        with httpx.Client(timeout=300) as http:
            asks = bench_asks(http, f"http://127.0.0.1:{settings.agent_app_port}", args.asks)
        orders = bench_orders(
            f"http://127.0.0.1:{settings.workflow_app_port}", args.orders, args.concurrency
        )
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "asks": asks,
        "orders": orders,
    }
    out = ROOT / "loadtest" / "results" / f"quick-{datetime.now(UTC):%Y%m%d-%H%M}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"/ask  n={asks['n']} degraded={asks['degraded']}  p50 {asks['total_p50_ms']:.0f} ms  "
        f"p95 {asks['total_p95_ms']:.0f} ms;  outside the model p50 "
        f"{asks['outside_model_p50_ms']:.0f} ms p95 {asks['outside_model_p95_ms']:.0f} ms"
    )
    print(
        f"orders n={orders['n']} x{orders['concurrency']} {orders['statuses']}  e2e p50 "
        f"{orders['e2e_p50_ms']:.0f} ms  p95 {orders['e2e_p95_ms']:.0f} ms  "
        f"{orders['runs_per_s']:.2f} runs/s"
    )
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
