"""``make load``: the Locust scenario against the local stack, bounded, with the approver
loop, a resource sampler, and the end-of-run checks; results in one folder.

    .venv/bin/python loadtest/run_load.py [--users 6] [--spawn-rate 1] [--duration 180]
        [--kinds reject,timeout,unsafe] [--shopper-wait 2,4] [--out DIR]

Bounds: at most 20 users, 5 spawned per second, 600 s; every target is 127.0.0.1. Reuses a
running *test*-profile stack (its event-probe sidecar lets the events be checked) or
starts one and stops it after.

Before the load, ``--idle-asks`` asks one at a time on the idle stack give ``/ask``'s own
p95; ``summary.json``'s ``ask_p95_load_over_idle`` is the p95 of the askers' ``POST /ask``
under load over it (how much the orders' model calls slow a person's answer: agent-shell's
model gate puts asks first, ``LLM_PRIORITY``). ``agent_model`` has agent-shell's own
counts over the load: answers that degraded and time model calls waited at the gate, by
path.

Writes ``loadtest/results/load-<date>/`` (or ``--out``): ``locust_*.csv`` (Locust's own
latency percentiles per request kind and failures), ``samples.csv`` (CPU % and RSS of
every process of the stack, children included, and Redis memory and ops/s, every 2 s),
``runs.csv`` (each started run: status, end-to-end seconds, event seen), ``summary.json``
and ``chart.png``. ``--kinds`` starts the named outcomes in turn rather than in the
scenario's proportions, and ``--shopper-wait`` paces the shoppers, so a short load still
sees each outcome (tests/integration/test_load.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from snacktopus_core.contracts import TERMINAL  # noqa: E402

from loadtest import ask_stream  # noqa: E402
from loadtest.model_limit import drive as drive_model  # noqa: E402
from loadtest.stats import pct  # noqa: E402
from tests.support import metric_sum  # noqa: E402
from tools.devstack import Stack  # noqa: E402
from tools.stack_settings import StackSettings  # noqa: E402

VENV = ROOT / ".venv" / "bin"


class Sampler(threading.Thread):
    """CPU and RSS of each supervised program (with its children: Ollama's runner), and
    Redis' memory and ops/s, every ``every`` seconds until stopped."""

    def __init__(self, stack: Stack, out: Path, every: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.stack, self.out, self.every = stack, out, every
        self.stop = threading.Event()
        self.rows: list[dict[str, Any]] = []
        self.redis = redis.Redis(port=stack.s.redis_port)

    def run(self) -> None:
        procs: dict[str, psutil.Process] = {}
        # Process objects are kept between samples: cpu_percent() measures since the last
        # call on the same object (a new object reads 0.0), children included.
        known: dict[int, psutil.Process] = {}
        t0 = time.monotonic()
        while not self.stop.is_set():
            for name, pid in self.stack.supervisor_pids().items():
                if name not in procs or procs[name].pid != pid:
                    try:
                        procs[name] = psutil.Process(pid)
                        procs[name].cpu_percent()
                    except psutil.Error:
                        continue
            self.stop.wait(self.every)
            t = round(time.monotonic() - t0, 1)
            for name, p in procs.items():
                try:
                    family = [known.setdefault(c.pid, c) for c in (p, *p.children(recursive=True))]
                    cpu = sum(c.cpu_percent() for c in family)
                    rss = sum(c.memory_info().rss for c in family) / 2**20
                except psutil.Error:
                    continue
                self.rows.append({"t": t, "process": name, "cpu_pct": cpu, "rss_mb": round(rss)})
            try:
                info = self.redis.info()
                self.rows.append(
                    {
                        "t": t,
                        "process": "redis-info",
                        "cpu_pct": None,
                        "rss_mb": round(info["used_memory"] / 2**20, 1),
                        "ops_per_s": info["instantaneous_ops_per_sec"],
                    }
                )
            except redis.RedisError:
                pass
        with (self.out / "samples.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, ["t", "process", "cpu_pct", "rss_mb", "ops_per_s"])
            w.writeheader()
            w.writerows(self.rows)


def settle(http: httpx.Client, stack: Stack, ids: list[str], timeout: float) -> dict[str, dict]:
    wf = f"http://127.0.0.1:{stack.s.workflow_app_port}"
    runs: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(runs) < len(ids):
        for oid in ids:
            if oid in runs:
                continue
            r = http.get(f"{wf}/orders/{oid}")
            view = r.json() if r.status_code == 200 else {}
            run = view.get("run")
            if run and run["status"] in TERMINAL:
                runs[oid] = run
            elif view.get("workflow_status") in {"FAILED", "TERMINATED"} or (
                view.get("workflow_status") == "COMPLETED" and not run
            ):
                # Dapr says it ended, our record does not: a finding, not something to wait for.
                runs[oid] = {"status": f"ended-without-record ({view['workflow_status']})"}
        time.sleep(1)
    return runs


def events_by_order(stack: Stack) -> dict[str, list[dict]]:
    probe = f"http://127.0.0.1:{stack.s.probe_app_port}/events"
    found: dict[str, list[dict]] = defaultdict(list)
    for topic in ("order.completed", "order.compensated", "order.alert"):
        for e in httpx.get(probe, params={"topic": topic}, timeout=30).json():
            data = e["cloudevent"].get("data") or {}
            if isinstance(data, dict) and "order_id" in data:
                found[data["order_id"]].append({"topic": topic, **data})
    return found


def agrees(run: dict, events: list[dict]) -> bool:
    """The terminal status in the state store and the events say the same thing."""
    if run["status"] == "completed":
        return any(e["topic"] == "order.completed" for e in events)
    return any(
        e["topic"] in {"order.compensated", "order.alert"}
        and e.get("status", run["status"]) == run["status"]
        for e in events
    )


def locust_stats(out: Path) -> list[dict[str, Any]]:
    rows = []
    with (out / "locust_stats.csv").open() as f:
        for r in csv.DictReader(f):
            rows.append(
                {
                    "name": r["Name"],
                    "requests": int(r["Request Count"]),
                    "failures": int(r["Failure Count"]),
                    "p50_ms": float(r["50%"] or 0),
                    "p95_ms": float(r["95%"] or 0),
                    "p99_ms": float(r["99%"] or 0),
                    "rps": round(float(r["Requests/s"]), 3),
                }
            )
    return rows


def chart(out: Path, samples: list[dict], by_status: dict[str, list[float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(14, 9))
    series: dict[str, list[tuple[float, dict]]] = defaultdict(list)
    for s in samples:
        series[s["process"]].append((s["t"], s))
    for name, points in sorted(series.items()):
        ts = [t for t, _ in points]
        if name == "redis-info":
            axes[1][0].plot(ts, [p["ops_per_s"] for _, p in points], label="Redis ops/s")
            continue
        axes[0][0].plot(ts, [p["cpu_pct"] for _, p in points], label=name)
        axes[0][1].plot(ts, [p["rss_mb"] for _, p in points], label=name)
    axes[0][0].set(title="CPU % per process", xlabel="s")
    axes[0][1].set(title="RSS MiB per process (children included)", xlabel="s")
    axes[1][0].set(title="Redis ops/s", xlabel="s")
    for ax in (axes[0][0], axes[0][1], axes[1][0]):
        ax.legend(fontsize=7)
    labels = sorted(by_status)
    axes[1][1].boxplot([by_status[k] for k in labels], tick_labels=labels)
    axes[1][1].set(title="end-to-end run seconds by terminal status")
    fig.tight_layout()
    fig.savefig(out / "chart.png", dpi=80)


def model_counts(http: httpx.Client, stack: Stack) -> dict[str, float]:
    """agent-shell's own count of model answers (every path: ask, recommend, summarize)
    and of the completion tokens of its conversation-API calls (recommend, summarize: the
    DurableAgent's ask reports none), with the time they were read."""
    text = http.get(f"http://127.0.0.1:{stack.s.agent_app_port}/metrics").text
    return {
        "t": time.monotonic(),
        "answers": metric_sum(text, "snacktopus_llm_seconds_count", outcome="ok"),
        "completion_tokens": metric_sum(text, "snacktopus_llm_tokens_total", kind="completion"),
    }


def sustained(before: dict, after: dict, raw: dict | None, runs: int) -> dict[str, Any]:
    """The load's model traffic over its window, and ``llm_utilization``: its answers/s as a
    fraction of the raw figure the same machine reached just before (model_limit.py)."""
    window = after["t"] - before["t"]
    answers = (after["answers"] - before["answers"]) / window
    tokens = (after["completion_tokens"] - before["completion_tokens"]) / window
    out: dict[str, Any] = {
        "window_s": round(window, 1),
        "runs_per_s": round(runs / window, 3),
        "answers_per_s": round(answers, 3),
        "conversation_api_completion_tokens_per_s": round(tokens, 2),
    }
    if raw and raw["answers_per_s"]:
        out["llm_utilization"] = round(answers / raw["answers_per_s"], 2)
        out["llm_utilization_tokens"] = round(tokens / raw["completion_tokens_per_s"], 2)
    return out


def agent_counts(http: httpx.Client, stack: Stack) -> dict[str, float]:
    """agent-shell's degraded answers and model-gate waits so far, by path."""
    text = http.get(f"http://127.0.0.1:{stack.s.agent_app_port}/metrics").text
    out = {}
    for path in ("ask", "recommend"):
        out[f"degraded_{path}"] = metric_sum(text, "snacktopus_degraded_answers_total", path=path)
        out[f"answers_{path}"] = metric_sum(text, "snacktopus_answers_total", path=path)
    for kind in ("interactive", "background"):
        wait = metric_sum(text, "snacktopus_model_wait_seconds_sum", kind=kind)
        out[f"gate_wait_s_{kind}"] = wait
    return out


def idle_asks(http: httpx.Client, stack: Stack, n: int) -> dict[str, Any]:
    """``/ask`` alone on the stack: one unmeasured (the model loaded), then ``n``."""
    agent = f"http://127.0.0.1:{stack.s.agent_app_port}"
    ask_stream.asks(http, agent, 1, stream=False, prefix="load-warm")
    return ask_stream.asks(http, agent, n, stream=False, prefix="load-idle")


def ask_ratio(stats: list[dict[str, Any]], idle: dict[str, Any]) -> float | None:
    row = next((r for r in stats if r["name"] == "POST /ask"), None)
    if not row or not row["requests"] or not idle["answer_p95_ms"]:
        return None
    return round(row["p95_ms"] / idle["answer_p95_ms"], 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=6)
    parser.add_argument("--spawn-rate", type=float, default=1.0)
    parser.add_argument("--duration", type=int, default=180, help="seconds of load")
    parser.add_argument(
        "--kinds",
        default="",
        help="order kinds to start in turn (comma list: auto,approve,reject,timeout,unsafe); "
        "default: the scenario's proportions",
    )
    parser.add_argument(
        "--shopper-wait",
        default="8,16",
        help="MIN,MAX seconds a shopper waits between orders (each at least 1)",
    )
    parser.add_argument("--out", type=Path, help="results folder (default loadtest/results/…)")
    parser.add_argument(
        "--model-limit",
        type=int,
        default=40,
        help="seconds of the raw-model phase before the load, --users in parallel (0: none)",
    )
    parser.add_argument(
        "--idle-asks", type=int, default=6, help="asks on the idle stack first (1..30)"
    )
    args = parser.parse_args()
    if not 1 <= args.users <= 20:
        parser.error("--users must be 1..20")
    if not 0 < args.spawn_rate <= 5:
        parser.error("--spawn-rate must be in (0, 5]")
    if not 1 <= args.idle_asks <= 30:
        parser.error("--idle-asks must be 1..30")
    if not 10 <= args.duration <= 600:
        parser.error("--duration must be 10..600 s")
    try:
        wait_min, wait_max = (float(x) for x in args.shopper_wait.split(","))
    except ValueError:
        parser.error("--shopper-wait must be MIN,MAX seconds")
    if not 1 <= wait_min <= wait_max <= 60:
        parser.error("--shopper-wait must be 1 <= MIN <= MAX <= 60")

    stack = Stack(StackSettings())
    started = False
    if stack.supervisord_pid() is None:
        stack.up("test", True, timeout=300)
        started = True
    elif stack.profile() != "test":
        print(f"a '{stack.profile()}' stack is running; load needs the test profile: make down")
        return 2
    out = args.out or ROOT / "loadtest" / "results" / f"load-{datetime.now(UTC):%Y%m%d-%H%M}"
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    ports = stack.s
    scenario_env = {
        # This stack's own ports and token file (a value in the environment wins).
        "WORKFLOW_URL": f"http://127.0.0.1:{ports.workflow_app_port}",
        "WORKFLOW_DAPR_URL": f"http://127.0.0.1:{ports.workflow_dapr_http_port}",
        "AGENT_URL": f"http://127.0.0.1:{ports.agent_app_port}",
        "RUN_DIR": str(stack.run),
        **os.environ,
        "LOAD_OUT": str(out),
        "LOAD_KINDS": args.kinds,
        "LOAD_SHOPPER_WAIT_S": json.dumps([wait_min, wait_max]),
    }
    until = out / ".stop-approver"
    until.unlink(missing_ok=True)
    (out / "started.txt").write_text("")
    sampler = Sampler(stack, out)
    approver = subprocess.Popen(
        [str(VENV / "python"), str(ROOT / "loadtest" / "approver.py"), "--until", str(until)],
        stdout=subprocess.PIPE,
        text=True,
    )
    http = httpx.Client(timeout=30)
    raw = None
    if args.model_limit:
        print(f"raw model: {args.users} in parallel for {args.model_limit} s", flush=True)
        raw = drive_model(
            f"http://127.0.0.1:{ports.agent_app_port}",
            f"http://127.0.0.1:{ports.agent_dapr_http_port}",
            ports.sidecar_headers(),
            parallel=args.users,
            duration_s=args.model_limit,
        )
        print(json.dumps(raw), flush=True)
    print(f"/ask on the idle stack: {args.idle_asks} asks", flush=True)
    idle = idle_asks(http, stack, args.idle_asks)
    print(json.dumps(idle), flush=True)
    agent_before = agent_counts(http, stack)
    try:
        sampler.start()
        t0 = time.monotonic()
        counts_before = model_counts(http, stack)
        print(
            f"locust: {args.users} users, {args.spawn_rate}/s, {args.duration} s -> {out}",
            flush=True,
        )
        subprocess.run(
            [
                str(VENV / "locust"),
                "-f",
                str(ROOT / "loadtest" / "locustfile.py"),
                "--headless",
                "--users",
                str(args.users),
                "--spawn-rate",
                str(args.spawn_rate),
                "--run-time",
                f"{args.duration}s",
                "--csv",
                str(out / "locust"),
                "--only-summary",
                "--stop-timeout",
                "120",
            ],
            env=scenario_env,
            check=False,
        )
        counts_after = model_counts(http, stack)
        ids = [x for x in (out / "started.txt").read_text().split() if x]
        print(
            f"load over after {time.monotonic() - t0:.0f} s; {len(ids)} runs to settle", flush=True
        )
        runs = settle(http, stack, ids, timeout=min(900, 120 + 6 * len(ids)))
        wall = time.monotonic() - t0
        agent_after = agent_counts(http, stack)
    finally:
        until.touch()
        approver_out = approver.communicate(timeout=30)[0].strip()
        sampler.stop.set()
        sampler.join()
        until.unlink(missing_ok=True)

    events = events_by_order(stack) if stack.supervisord_pid() else {}
    agent_model = {k: round(agent_after[k] - agent_before[k], 2) for k in agent_before}
    by_status: dict[str, list[float]] = defaultdict(list)
    disagree = []
    with (out / "runs.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["order_id", "kind", "status", "e2e_s", "event_agrees"])
        for oid in ids:
            run = runs.get(oid)
            if run is None:
                w.writerow([oid, oid.split("-")[1], "LOST", "", ""])
                continue
            if "started_at" not in run:
                disagree.append(oid)
                w.writerow([oid, oid.split("-")[1], run["status"], "", False])
                continue
            e2e = (
                datetime.fromisoformat(run["finished_at"])
                - datetime.fromisoformat(run["started_at"])
            ).total_seconds()
            ok = agrees(run, events.get(oid, []))
            if not ok:
                disagree.append(oid)
            by_status[run["status"]].append(e2e)
            w.writerow([oid, oid.split("-")[1], run["status"], round(e2e, 2), ok])
    if started:
        stack.down()
    stats = locust_stats(out)
    summary = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "wall_s": round(wall, 1),
        "requests": stats,
        "failed_requests": sum(r["failures"] for r in stats if r["name"] == "Aggregated"),
        "runs_started": len(ids),
        "runs_terminal": len(runs),
        "runs_lost": [oid for oid in ids if oid not in runs],
        "runs_event_disagrees": disagree,
        "runs_per_s": round(len(runs) / wall, 3),
        "model_limit": raw,
        "sustained": (rates := sustained(counts_before, counts_after, raw, len(ids))),
        "llm_utilization": rates.get("llm_utilization"),
        "ask_idle": idle,
        "ask_p95_load_over_idle": ask_ratio(stats, idle),
        "agent_model": agent_model,
        "e2e_by_status": {
            k: {
                "n": len(v),
                "p50_s": round(pct(v, 50), 2),
                "p95_s": round(pct(v, 95), 2),
                "max_s": round(pct(v, 100), 2),
            }
            for k, v in sorted(by_status.items())
        },
        "approver": approver_out,
        "peak_rss_mb": {
            name: max(s["rss_mb"] for s in sampler.rows if s["process"] == name)
            for name in {s["process"] for s in sampler.rows}
        },
        "mean_cpu_pct": {
            name: round(
                sum(s["cpu_pct"] for s in sampler.rows if s["process"] == name)
                / max(1, sum(1 for s in sampler.rows if s["process"] == name)),
                1,
            )
            for name in {s["process"] for s in sampler.rows if s["process"] != "redis-info"}
        },
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    chart(out, sampler.rows, by_status)
    print(
        json.dumps(
            {k: summary[k] for k in ("requests", "e2e_by_status", "model_limit", "sustained")},
            indent=1,
        )
    )
    print(
        f"/ask p95 under load over idle: {summary['ask_p95_load_over_idle']} "
        f"(idle p95 {idle['answer_p95_ms']} ms); agent-shell over the load: {agent_model}"
    )
    print(
        f"runs started {len(ids)}, terminal {len(runs)}, lost {len(summary['runs_lost'])}, "
        f"events disagree {len(disagree)}, failed requests {summary['failed_requests']}; "
        f"results in {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}"
    )
    ok = (
        bool(ids)  # a load that started nothing checked nothing
        and not summary["runs_lost"]
        and not disagree
        and summary["failed_requests"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
