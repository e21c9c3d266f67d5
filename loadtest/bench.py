"""Overhead benchmark: the snacktopus workflow beside a bare Dapr workflow, and ``/ask``
beside a plain Dapr conversation call, in one run on the same runtime (``make bench``).

    .venv/bin/python loadtest/bench.py [--runs 40] [--concurrency 4] [--asks 30]

A local stack of its own (``.run/bench``, an empty store each time) runs the *bench*
profile: agent-shell's model is Dapr's ``conversation.echo`` component (the benchmark
measures our code and Dapr, not SmolLM2), every order is under the approval threshold
(auto-approved), and a ``bare-bench`` app
(``loadtest/bare_workflow.py``, no Snacktopus code) runs trivial activities in the same
shape under its own sidecar, on the same daprd, placement, scheduler and Redis.

1. The activity count of one snacktopus run is measured from workflow-host's own step
   metrics; the bare workflow then runs exactly as many activities.
2. Latency: ``--runs`` of each, one at a time and interleaved (bare, ours, bare, ...), so
   both see the same machine. Each is started through the Dapr workflow HTTP API and
   timed until the sidecar's status reads completed (polled every 5 ms).
3. Throughput: ``--runs`` of each again, ``--concurrency`` in flight; runs per second.
4. ``/ask`` and a plain ``converse`` call to ``llm-echo`` with the same question,
   ``--asks`` each, sequentially: the difference is the agent's own share.
5. The real model: agent-shell restarted on ``llm`` (Ollama), then ``--model-asks``
   streamed asks (``Accept: text/event-stream``), one at a time: the time to the
   ``basket`` event (``ask_time_to_basket_p95_ms``: what a person waits to see the basket
   and its prices) beside the time to ``done`` (``ask_full_answer_p95_ms``: the whole
   answer, the model's text checked). agent-shell is put back on ``llm-echo`` after when
   the stack was already running.

daprd 1.18.2 sometimes parks a run for exactly one second: a fan-in processes several
results in one turn, the wake-up reminders of the already-processed ones then find an
empty inbox and deactivate the workflow actor, and the next activity result, queued on
that actor, is refused ("actor is closed") and retried by the built-in
``DaprBuiltInActorNotFoundRetries`` policy after 1 s (a protected policy: resiliency
specs cannot shorten it). It hits the bare workflow as much as ours, at rates from 10 %
to over 50 % of runs, and the p50 of either can land on either side of it. So each
latency run is also classified by whether its sidecar logged that retry while it ran
and took that second longer than the fastest run of its kind (runs are sequential, so
the log tells them apart), and the ratio is given over all runs and over the runs that
the runtime did not park.

Prints a table and writes ``loadtest/results/bench-<date>.json`` with
``workflow_p50_ratio`` (ours/bare, all runs), ``workflow_p50_ratio_stall_free``,
``workflow_throughput_ratio`` (bare/ours: both read "≤ 1 is ideal"),
``agent_overhead_p95_ms`` and the raw figures. Asserts nothing: the targets live in the
test plan.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
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

from loadtest import ask_stream  # noqa: E402
from loadtest.model_limit import drive as drive_model  # noqa: E402
from loadtest.stats import pct  # noqa: E402
from tests.support import metric_sum  # noqa: E402
from tools.devstack import Stack  # noqa: E402
from tools.stack_settings import StackSettings  # noqa: E402

console = Console(highlight=False)
ORDER = {"request": "snacks for 4 people", "headcount": 4, "budget_usd": 20}
KINDS = ("bare", "snacktopus")
STALL_MARK = b"DaprBuiltInActorNotFoundRetries. Retrying"
# agent_shell.agent.AGENT_RUN_SPAN (not imported: that module loads dapr-agents).
AGENT_RUN_SPAN = "durable agent run"


class LogCounter:
    """Counts ``mark`` in the lines a log file gained since the last call (a file that
    shrank was rotated: it is read from its start)."""

    def __init__(self, path: Path, mark: bytes) -> None:
        self.path, self.mark = path, mark
        self.offset = path.stat().st_size if path.exists() else 0

    def take(self) -> int:
        if not self.path.exists():
            return 0
        size = self.path.stat().st_size
        if size < self.offset:
            self.offset = 0
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read(size - self.offset)
        self.offset = size
        return chunk.count(self.mark)


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
        self.bare_agent = f"http://127.0.0.1:{s.bare_agent_app_port}"
        self.zipkin = s.zipkin_url
        self.wf = f"http://127.0.0.1:{s.workflow_app_port}"
        self.sidecars = {
            "snacktopus": f"http://127.0.0.1:{s.workflow_dapr_http_port}",
            "bare": f"http://127.0.0.1:{s.bare_dapr_http_port}",
        }
        self.stalls = {
            "snacktopus": LogCounter(stack.logs / "daprd-workflow.log", STALL_MARK),
            "bare": LogCounter(stack.logs / "daprd-bare.log", STALL_MARK),
        }

    def one_run(self, kind: str, body: dict[str, Any], poll_s: float = 0.02) -> float:
        """Start one instance through the Dapr workflow HTTP API; ms until its status reads
        COMPLETED. Polled, not awaited: the SDK's long-poll wait holds a stream on the
        workflow actor, and when daprd deactivates that actor (see above) the stream is
        re-opened after the same one-second retry, which added 1 s to nearly every run."""
        base = f"{self.sidecars[kind]}/v1.0/workflows/dapr"
        iid = f"bench-{kind}-{uuid.uuid4().hex[:12]}"
        if kind == "snacktopus":
            body = {**body, "order_id": iid, "user_id": "bench-user"}
        t = time.perf_counter()
        self.http.post(
            f"{base}/{kind}/start", params={"instanceID": iid}, json=body
        ).raise_for_status()
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
            time.sleep(poll_s)

    def latency(self, bodies: dict[str, dict[str, Any]], n: int) -> dict[str, dict[str, Any]]:
        """``n`` runs of each kind, one at a time, interleaved; a run counts as parked when
        its sidecar logged the runtime's one-second actor retry while it ran and it took
        that second longer than the fastest run of its kind."""
        runs: dict[str, list[tuple[float, bool]]] = {k: [] for k in bodies}
        for _ in range(n):
            for kind, body in bodies.items():
                self.stalls[kind].take()
                # One run in flight: a 5 ms poll costs the sidecar little and blurs less.
                ms = self.one_run(kind, body, poll_s=0.005)
                runs[kind].append((ms, self.stalls[kind].take() > 0))
        out = {}
        for kind, rows in runs.items():
            # Parked: the retry was logged *and* the run took the second it costs (the
            # retry can also hit a wake-up reminder nobody waits for).
            fastest = min(ms for ms, _ in rows)
            free = [ms for ms, logged in rows if not (logged and ms >= fastest + 900)]
            out[kind] = {
                **summary([ms for ms, _ in rows]),
                "stalled_runs": len(rows) - len(free),
                "stall_free": summary(free),
            }
        return out

    def throughput(
        self, kind: str, body: dict[str, Any] | list[dict[str, Any]], n: int, concurrency: int
    ):
        """``n`` runs, ``concurrency`` in flight; a list of bodies is taken in turn."""
        bodies = body if isinstance(body, list) else [body]
        self.stalls[kind].take()
        t = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            latencies = list(
                pool.map(lambda i: self.one_run(kind, bodies[i % len(bodies)]), range(n))
            )
        return {
            **summary(latencies, time.perf_counter() - t),
            "runtime_stalls_logged": self.stalls[kind].take(),
        }

    def step_count(self) -> float:
        text = self.http.get(f"{self.wf}/metrics").text
        return metric_sum(text, "snacktopus_workflow_step_seconds_count")

    def asks(self, n: int) -> dict[str, Any]:
        """``n`` rounds of: ``/ask``; the bare DurableAgent (``bare-agent``) given the prompt
        that ask's own agent was given; a plain ``converse`` call to ``llm-echo`` with that
        prompt. Sequential, in that order, each timed alone."""
        user = f"bench-{uuid.uuid4().hex[:6]}"
        self.http.put(f"{self.agent}/profile/{user}", json={"budget_usd": 40}).raise_for_status()
        ask_ms, bare_ms, converse_ms, trace_ids = [], [], [], []
        for i in range(n):
            q = f"Snacks for {4 + i % 8} people"
            t = time.perf_counter()
            r = self.http.post(f"{self.agent}/ask", json={"user_id": user, "question": q})
            r.raise_for_status()
            ask_ms.append((time.perf_counter() - t) * 1000)
            trace_ids.append(r.json()["trace_id"])
            prompt = self.agent_prompt(r.json()["entry_id"])
            t = time.perf_counter()
            self.http.post(f"{self.bare_agent}/run", json={"task": prompt}).raise_for_status()
            bare_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            r = self.http.post(
                f"{self.agent_dapr}/v1.0-alpha2/conversation/llm-echo/converse",
                json={"inputs": [{"messages": [{"ofUser": {"content": [{"text": prompt}]}}]}]},
            )
            r.raise_for_status()
            converse_ms.append((time.perf_counter() - t) * 1000)
        return {
            "ask": summary(ask_ms),
            "bare_durable_agent": summary(bare_ms),
            "converse": summary(converse_ms),
            "trace_ids": trace_ids,
        }

    def agent_prompt(self, entry_id: str) -> str:
        """The task ``/ask`` gave its DurableAgent: the input of its instance ``ask-<entry>``
        on agent-shell's sidecar."""
        url = f"{self.agent_dapr}/v1.0/workflows/dapr/ask-{entry_id}"
        state = self.http.get(url).raise_for_status().json()
        raw = json.loads(state["properties"]["dapr.workflow.input"])
        task = raw.get("task") if isinstance(raw, dict) else None
        if not isinstance(task, str) or not task:
            raise RuntimeError(f"ask-{entry_id}: no task in its input {raw!r:.200}")
        return task

    def pipeline_ms(self, trace_ids: list[str], wait_s: float = 15) -> list[float]:
        """Our own share of each ``/ask``, from its trace in Zipkin: agent-shell's server
        span less its DurableAgent run span (agent.py ``AGENT_RUN_SPAN``: the agent's
        workflow on daprd and the model call). Spans are exported in batches every 0.5 s,
        so a trace not yet whole is asked for again."""
        out, deadline = [], time.monotonic() + wait_s
        for tid in trace_ids:
            while True:
                r = self.http.get(f"{self.zipkin}/api/v2/trace/{tid}")
                spans = r.json() if r.status_code == 200 else []
                server = [
                    x
                    for x in spans
                    if x.get("kind") == "SERVER"
                    and x.get("localEndpoint", {}).get("serviceName") == "agent-shell"
                    and x.get("name", "").endswith("/ask")
                ]
                agent = [x for x in spans if x.get("name") == AGENT_RUN_SPAN]
                if server and agent:
                    out.append((server[0]["duration"] - agent[0]["duration"]) / 1000)
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"trace {tid}: no /ask server span and agent span")
                time.sleep(0.5)
        return out


def bench_stack(daprd: Path | None = None) -> Stack:
    """A stack of its own, in ``.run/bench``, on an empty store every time.

    Each bench places ~90 orders of the same cheap basket and placed orders keep their
    stock, so on a long-lived store the cheapest SKUs ran out after a few benches and runs
    ended ``failed`` on ``reserve_inventory``; earlier orders also grow the run index. The
    benchmark measures our code and Dapr, so it starts from nothing, and leaves the
    developer's own stack and data (``.run``) alone.
    """
    mine = Stack(StackSettings())
    if (pid := mine.supervisord_pid()) is not None:
        raise SystemExit(
            f"a '{mine.profile()}' stack is running (supervisord pid {pid}) on the ports the "
            "bench uses: `make down` first"
        )
    stack = Stack(StackSettings(run_dir=mine.run / "bench"))
    if stack.supervisord_pid() is None:
        for data in ("redis", "scheduler"):
            shutil.rmtree(stack.run / data, ignore_errors=True)
    if daprd is not None:  # another daprd build (the park patch: loadtest/park_repro.py)
        stack.daprd = daprd.resolve()
    return stack


def real_model_asks(stack: Stack, b: Bench, n: int, restore: bool) -> dict[str, Any]:
    """``n`` streamed asks with agent-shell on the real model (two first, unmeasured, so
    the model is loaded)."""
    stack.reconfigure("agent", {"LLM_COMPONENT": "llm"})
    try:
        ask_stream.asks(b.http, b.agent, 2, stream=True, prefix="bench-warm")
        return ask_stream.asks(b.http, b.agent, n, stream=True, prefix="bench-model")
    finally:
        if restore:
            stack.reconfigure("agent", {})


def run(args: argparse.Namespace) -> dict[str, Any]:
    stack = bench_stack(args.daprd)
    with stack.borrowed("bench") as started:
        b = Bench(stack)
        console.print("warm-up: 3 runs of each workflow, 3 asks")
        before = b.step_count()
        for _ in range(3):
            b.one_run("snacktopus", ORDER)
        activities = round((b.step_count() - before) / 3)
        bodies = {"bare": {"activities": activities}, "snacktopus": ORDER}
        for _ in range(3):
            b.one_run("bare", bodies["bare"])
        b.asks(3)
        console.print(f"one snacktopus run = {activities} activities; bare runs as many")
        console.print(f"latency: {args.runs} runs of each, one at a time, interleaved")
        latency = b.latency(bodies, args.runs)
        console.print(f"throughput: {args.runs} runs of each, {args.concurrency} in flight")
        rate = {k: b.throughput(k, bodies[k], args.runs, args.concurrency) for k in KINDS}
        console.print(
            f"{args.asks} asks, bare DurableAgent runs and plain converse calls (echo model)"
        )
        agent = b.asks(args.asks)
        pipeline = b.pipeline_ms(agent.pop("trace_ids"))
        console.print(
            f"raw model: the recommend prompts to Ollama through the conversation API, "
            f"{args.model_parallel} in parallel for {args.model_seconds} s"
        )
        raw = drive_model(
            b.agent,
            b.agent_dapr,
            stack.s.sidecar_headers(),
            parallel=args.model_parallel,
            duration_s=args.model_seconds,
        )
        console.print(f"real model: agent-shell on 'llm', {args.model_asks} streamed asks")
        model = real_model_asks(stack, b, args.model_asks, restore=not started)
    bare, ours = latency["bare"], latency["snacktopus"]
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
            "model_asks": args.model_asks,
            "activities_per_run": activities,
            "llm": "conversation.echo",
            "model_parallel": args.model_parallel,
            "model_seconds": args.model_seconds,
            "daprd": str(stack.daprd),
        },
        "workflow_p50_ratio": ratio(ours["p50_ms"], bare["p50_ms"]),
        "workflow_p50_ratio_stall_free": ratio(
            ours["stall_free"]["p50_ms"], bare["stall_free"]["p50_ms"]
        ),
        "workflow_throughput_ratio": ratio(
            rate["bare"]["runs_per_s"], rate["snacktopus"]["runs_per_s"]
        ),
        "agent_overhead_p95_ms": round(agent["ask"]["p95_ms"] - agent["converse"]["p95_ms"], 1),
        "agent_overhead_p50_ms": round(agent["ask"]["p50_ms"] - agent["converse"]["p50_ms"], 1),
        "agent_pipeline_p95_ms": round(pct(pipeline, 95), 1),
        "agent_pipeline_p50_ms": round(pct(pipeline, 50), 1),
        "agent_vs_bare_durable_agent_p95_ratio": ratio(
            agent["ask"]["p95_ms"], agent["bare_durable_agent"]["p95_ms"]
        ),
        "agent_vs_bare_durable_agent_p50_ratio": ratio(
            agent["ask"]["p50_ms"], agent["bare_durable_agent"]["p50_ms"]
        ),
        "bare_durable_agent_over_converse_p95_ms": round(
            agent["bare_durable_agent"]["p95_ms"] - agent["converse"]["p95_ms"], 1
        ),
        "bare_durable_agent_vs_converse_p95_ratio": ratio(
            agent["bare_durable_agent"]["p95_ms"], agent["converse"]["p95_ms"]
        ),
        "model_raw_answers_per_s": raw["answers_per_s"],
        "model_raw_completion_tokens_per_s": raw["completion_tokens_per_s"],
        "bare_workflow": {**bare, "throughput": rate["bare"]},
        "snacktopus_workflow": {**ours, "throughput": rate["snacktopus"]},
        "ask": agent["ask"],
        "agent_pipeline": summary(pipeline),
        "bare_durable_agent": agent["bare_durable_agent"],
        "converse": agent["converse"],
        "model_limit": raw,
        "ask_time_to_basket_p95_ms": model.get("basket_p95_ms"),
        "ask_full_answer_p95_ms": model["answer_p95_ms"],
        "ask_real_model": model,
    }


def ratio(a: float, b: float) -> float | None:
    """a/b to two places; None when either side has no figure (NaN: no runs of that kind)."""
    return round(a / b, 2) if a == a and b == b and b else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--asks", type=int, default=30)
    # make load's default users: the parallelism its model traffic comes at.
    parser.add_argument("--model-parallel", type=int, default=6)
    parser.add_argument("--model-seconds", type=int, default=30)
    parser.add_argument("--daprd", type=Path, help="daprd binary (default: our flavour's)")
    parser.add_argument("--model-asks", type=int, default=10)
    args = parser.parse_args()
    for name in ("runs", "concurrency", "asks", "model_parallel", "model_seconds", "model_asks"):
        if not 1 <= getattr(args, name) <= 500:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and 500")
    result = run(args)
    table = Table(title=f"bench {result['date']}")
    for col in ("", "n", "p50 ms", "p95 ms", "parked 1 s", "p50 unparked", "runs/s"):
        table.add_column(col)
    for label, key in (("bare workflow", "bare_workflow"), ("snacktopus", "snacktopus_workflow")):
        r = result[key]
        table.add_row(
            label,
            str(r["n"]),
            str(r["p50_ms"]),
            str(r["p95_ms"]),
            str(r["stalled_runs"]),
            str(r["stall_free"]["p50_ms"]),
            f"{r['throughput']['runs_per_s']} ({args.concurrency} in flight)",
        )
    for label, key in (
        ("/ask (echo model)", "ask"),
        ("  our pipeline in it", "agent_pipeline"),
        ("bare DurableAgent (echo)", "bare_durable_agent"),
        ("plain converse (echo)", "converse"),
    ):
        r = result[key]
        table.add_row(label, str(r["n"]), str(r["p50_ms"]), str(r["p95_ms"]), "", "", "")
    r = result["model_limit"]
    table.add_row(
        f"raw model ({r['parallel']} parallel)",
        str(r["answers"]),
        str(r["p50_ms"]),
        str(r["p95_ms"]),
        "",
        "",
        f"{r['answers_per_s']} answers/s, {r['completion_tokens_per_s']} tok/s",
    )
    m = result["ask_real_model"]
    table.add_row(
        "/ask streamed (real model): basket",
        str(m["n"]),
        str(m.get("basket_p50_ms")),
        str(m.get("basket_p95_ms")),
        "",
        "",
        "",
    )
    table.add_row(
        "/ask streamed (real model): done",
        str(m["n"]),
        str(m["answer_p50_ms"]),
        str(m["answer_p95_ms"]),
        f"{m['degraded']} degraded",
        "",
        "",
    )
    console.print(table)
    console.print(
        f"workflow_p50_ratio {result['workflow_p50_ratio']}  "
        f"(unparked runs: {result['workflow_p50_ratio_stall_free']})  "
        f"workflow_throughput_ratio {result['workflow_throughput_ratio']}  "
        f"agent_overhead_p95_ms {result['agent_overhead_p95_ms']}  "
        f"ask_time_to_basket_p95_ms {result['ask_time_to_basket_p95_ms']} "
        f"(full answer {result['ask_full_answer_p95_ms']})"
    )
    console.print(
        f"agent_pipeline_p95_ms {result['agent_pipeline_p95_ms']}  "
        f"agent_vs_bare_durable_agent_p95_ratio {result['agent_vs_bare_durable_agent_p95_ratio']}"
        f"  bare DurableAgent over converse p95 "
        f"{result['bare_durable_agent_over_converse_p95_ms']} ms "
        f"({result['bare_durable_agent_vs_converse_p95_ratio']}x)"
    )
    out = ROOT / "loadtest" / "results" / f"bench-{datetime.now(UTC):%Y%m%d-%H%M}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
