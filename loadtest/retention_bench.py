"""Redis memory per 1,000 finished orders and per 1,000 asks, with and without retention (``make
bench-retention``), so an operator can size Redis.

    .venv/bin/python loadtest/retention_bench.py [--runs 1000] [--concurrency 8] [--asks 1000]

On the bench stack of ``make bench`` (its own run folder and empty store, echo model,
every order auto-approved): Redis' ``used_memory`` and its keys, by owner, are read
before ``--runs`` orders, after they all ended (no retention: what a month of orders
leaves), and after one retention sweep (``snacktopus purge --ended-before <now>``, the
same sweep workflow-host runs every ``RETENTION_SWEEP_INTERVAL_S``). Figures are scaled to
1,000 orders. Writes ``loadtest/results/retention-<date>.json``; asserts nothing.

What retention leaves is the ledger entry of each placed order (kept on purpose). Then the
same for agent-shell: ``--asks`` asks (``/ask``, echo model, 10 people, each ask a new
session), Redis read before, after they were all answered, and after one sweep of asks
(``agent-shell-purge --ended-before <now>``, the sweep agent-shell runs every
``RETENTION_SWEEP_INTERVAL_S``). What that leaves is the people's own memory (profiles,
sessions: bounded per person by ``MEMORY_MAX_SESSIONS`` and ``MEMORY_MAX_ENTRIES``).
``--asks 0`` skips it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtest.bench import ORDER, Bench, bench_stack  # noqa: E402

# Taken in turn: a hundred copies of one order would sell out its SKU (the stock ledger
# is real; SAV-042-NOR-12's 800 units last about 100 of them) and the runs past that end
# "out of stock", a footprint of their own. Different requests pick different SKUs.
ORDERS = [
    ORDER,
    {**ORDER, "request": "healthy snacks for 4 people"},
    {**ORDER, "request": "sweet snacks for 4 people"},
    {**ORDER, "request": "vegan snacks for 4 people"},
]

console = Console()


def owner(key: str) -> str:
    """Whose a key is: ``<app> instances`` (Dapr's workflow actor state) or ``<app>``."""
    app, _, rest = key.partition("||")
    if not rest:
        return "other"
    return f"{app} instances" if rest.startswith("dapr.internal.") else app


def snapshot(r: redis.Redis) -> dict[str, Any]:
    keys = Counter(owner(k) for k in r.scan_iter(count=5000))
    return {"used_memory": int(r.info("memory")["used_memory"]), "keys": dict(keys)}


def statuses(r: redis.Redis) -> Counter:
    """Orders by status, from workflow-host's runs index as Dapr stored it in Redis."""
    out: Counter = Counter()
    for key in r.scan_iter(match="workflow-host||runs-index:*", count=1000):
        out.update(status for status, _ in json.loads(r.hget(key, "data") or "{}").values())
    return out


def purge(stack_run: Path) -> str:
    """One retention sweep through the public CLI, pointed at the bench stack's sidecar
    and token (its run folder)."""
    cutoff = datetime.now(UTC).isoformat()
    result = subprocess.run(
        [
            str(ROOT / ".venv/bin/snacktopus"),
            "purge",
            "--ended-before",
            cutoff,
            "--limit",
            "100000",
        ],
        cwd=ROOT,
        env={**os.environ, "RUN_DIR": str(stack_run)},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        raise SystemExit(f"purge failed ({result.returncode}): {result.stdout}{result.stderr}")
    return result.stdout.strip()


def purge_asks(stack) -> str:
    """One sweep of asks through agent-shell's own command, on the bench stack's sidecar."""
    s = stack.s
    result = subprocess.run(
        [
            str(ROOT / ".venv/bin/agent-shell-purge"),
            "--ended-before",
            datetime.now(UTC).isoformat(),
            "--limit",
            "100000",
            "--dapr-grpc-port",
            str(s.agent_dapr_grpc_port),
            "--dapr-http-port",
            str(s.agent_dapr_http_port),
        ],
        cwd=ROOT,
        env={**os.environ, "RUN_DIR": str(stack.run)},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        raise SystemExit(
            f"agent purge failed ({result.returncode}): {result.stdout}{result.stderr}"
        )
    return result.stdout.strip()


def asks(bench: Bench, n: int, concurrency: int) -> float:
    """``n`` asks, ``concurrency`` at a time, by 10 people; the seconds they took."""
    users = [f"bench-ret-{i}" for i in range(10)]
    for user in users:
        bench.http.put(f"{bench.agent}/profile/{user}", json={"budget_usd": 40}).raise_for_status()

    def one(i: int) -> None:
        body = {"user_id": users[i % len(users)], "question": f"Snacks for {4 + i % 8} people"}
        bench.http.post(f"{bench.agent}/ask", json=body).raise_for_status()

    t = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(n)))
    return time.perf_counter() - t


def asks_part(stack, bench: Bench, r: redis.Redis, args: argparse.Namespace) -> dict[str, Any]:
    before = snapshot(r)
    console.print(f"{args.asks} asks, {args.concurrency} in flight")
    seconds = asks(bench, args.asks, args.concurrency)
    time.sleep(2)
    answered = snapshot(r)
    console.print("ask retention sweep: " + (swept := purge_asks(stack)))
    after = snapshot(r)
    return {
        "asks": args.asks,
        "seconds_for_asks": round(seconds, 1),
        "sweep": swept,
        "snapshots": {"before": before, "answered": answered, "after_retention": after},
        "per_1000_asks_without_retention": per_1000(before, answered, args.asks),
        "per_1000_asks_with_retention": per_1000(before, after, args.asks),
    }


def per_1000(before: dict, after: dict, runs: int) -> dict[str, Any]:
    scale = 1000 / runs
    owners = set(before["keys"]) | set(after["keys"])
    return {
        "bytes": round((after["used_memory"] - before["used_memory"]) * scale),
        "keys": {
            o: round((after["keys"].get(o, 0) - before["keys"].get(o, 0)) * scale) for o in owners
        },
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    stack = bench_stack()
    with stack.borrowed("bench"):
        r = redis.Redis(host="127.0.0.1", port=stack.s.redis_port, decode_responses=True)
        bench = Bench(stack)
        for _ in range(3):
            bench.one_run("snacktopus", ORDER)  # warm-up: clients, actors, placement
        before = snapshot(r)
        console.print(f"{args.runs} orders, {args.concurrency} in flight")
        t = time.perf_counter()
        bench.throughput("snacktopus", ORDERS, args.runs, args.concurrency)
        seconds = time.perf_counter() - t
        time.sleep(2)  # the last instances' final writes
        ended = snapshot(r)
        outcomes = statuses(r)
        console.print(f"ended: {dict(outcomes)}")
        console.print("retention sweep: " + (swept := purge(stack.run)))
        swept_snapshot = snapshot(r)
        agent = asks_part(stack, bench, r, args) if args.asks else None
        # Written before the stack stops: a slow stop must not lose the figures.
        return save(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "params": {"runs": args.runs, "concurrency": args.concurrency, "orders": ORDERS},
                "seconds_for_runs": round(seconds, 1),
                "statuses": dict(outcomes),
                "sweep": swept,
                "snapshots": {"before": before, "ended": ended, "after_retention": swept_snapshot},
                "per_1000_runs_without_retention": per_1000(before, ended, args.runs),
                "per_1000_runs_with_retention": per_1000(before, swept_snapshot, args.runs),
                "agent_shell": agent,
            }
        )


def save(result: dict[str, Any]) -> dict[str, Any]:
    out = ROOT / "loadtest" / "results" / f"retention-{datetime.now(UTC):%Y%m%d-%H%M}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {out.relative_to(ROOT)}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--asks", type=int, default=1000)
    args = parser.parse_args()
    if not 10 <= args.runs <= 5000 or not 1 <= args.concurrency <= 32:
        parser.error("--runs must be 10..5000 and --concurrency 1..32")
    if args.asks and not 10 <= args.asks <= 5000:
        parser.error("--asks must be 0 (skip) or 10..5000")
    result = run(args)
    table = Table(title=f"Redis per 1,000 finished orders ({result['date']})")
    table.add_column("")
    table.add_column("used_memory")
    table.add_column("keys by owner")
    for label, key in (("no retention", "without"), ("after retention", "with")):
        fig = result[f"per_1000_runs_{key}_retention"]
        keys = ", ".join(f"{o} {n:+d}" for o, n in sorted(fig["keys"].items()) if n)
        table.add_row(label, f"{fig['bytes'] / 2**20:.1f} MiB", keys)
    console.print(table)
    if agent := result["agent_shell"]:
        table = Table(title=f"Redis per 1,000 answered asks ({result['date']})")
        for column in ("", "used_memory", "keys by owner"):
            table.add_column(column)
        for label, key in (("no retention", "without"), ("after retention", "with")):
            fig = agent[f"per_1000_asks_{key}_retention"]
            keys = ", ".join(f"{o} {n:+d}" for o, n in sorted(fig["keys"].items()) if n)
            table.add_row(label, f"{fig['bytes'] / 2**20:.1f} MiB", keys)
        console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
