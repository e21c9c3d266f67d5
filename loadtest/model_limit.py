"""The model's own limit: Ollama driven straight through the Dapr conversation API.

The recommend prompts (agent-shell's own ``explain_prompt`` for the orders ``make load``
places, with its system instruction) are sent to the ``llm`` component (``conversation.
ollama``) on agent-shell's sidecar by ``parallel`` threads for ``duration_s``: no
workflow, no agent, no pipeline, only daprd and Ollama. What comes out is the machine's
raw figure, answers/s and tokens/s, that ``make load`` measures its own model traffic
against (``llm_utilization`` in its ``summary.json``) and ``make bench`` prints.

    .venv/bin/python loadtest/model_limit.py [--parallel 6] [--duration 40]

(beside a running stack: the test or bench profile's, any that runs Ollama).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtest.stats import pct  # noqa: E402

# The orders make load's shoppers place (loadtest/locustfile.py: SMALL, BIG), as questions
# agent-shell parses to the same headcount and budget.
LOAD_ORDERS = ["snacks for 4 people, budget $20", "snacks for 60 people at the offsite, $300"]
# agent-shell's system message on a recommend call (agent_shell.agent.INSTRUCTIONS joined;
# tests/unit/test_model_limit.py holds the two equal: the load tools never import the apps).
RECOMMEND_SYSTEM = "Snack basket facts, then one short true sentence about them."


def recommend_prompts(http: httpx.Client, agent_url: str, agent_dapr_url: str) -> list[str]:
    """The prompt agent-shell writes for each load order's basket: ``explain_prompt``, the
    one function behind both ``/ask`` and ``/recommend``, read back from the input of the
    DurableAgent instance (``ask-<entry>``) an ``/ask`` of that order started."""
    prompts = []
    for question in LOAD_ORDERS:
        r = http.post(f"{agent_url}/ask", json={"user_id": "model-limit", "question": question})
        entry = r.raise_for_status().json()["entry_id"]
        url = f"{agent_dapr_url}/v1.0/workflows/dapr/ask-{entry}"
        state = http.get(url).raise_for_status().json()
        task = json.loads(state["properties"]["dapr.workflow.input"]).get("task")
        if not isinstance(task, str) or not task:
            raise RuntimeError(f"ask-{entry}: no task in its input")
        prompts.append(task)
    return prompts


def converse_body(system: str, user: str) -> dict[str, Any]:
    return {
        "inputs": [
            {
                "messages": [
                    {"ofSystem": {"content": [{"text": system}]}},
                    {"ofUser": {"content": [{"text": user}]}},
                ]
            }
        ]
    }


def one_call(http: httpx.Client, url: str, body: dict[str, Any]) -> tuple[float, int, int]:
    """ms, completion tokens, prompt tokens of one answer (raises on a failed call)."""
    t = time.perf_counter()
    r = http.post(url, json=body)
    r.raise_for_status()
    out = r.json()["outputs"][0]
    usage = out.get("usage") or {}
    if not (out.get("choices") or [{}])[0].get("message", {}).get("content"):
        raise RuntimeError(f"empty answer: {out}")
    ms = (time.perf_counter() - t) * 1000
    return ms, int(usage.get("completionTokens", 0)), int(usage.get("promptTokens", 0))


def drive(
    agent_url: str,
    dapr_http_url: str,
    headers: dict[str, str],
    *,
    parallel: int,
    duration_s: float,
    component: str = "llm",
) -> dict[str, Any]:
    """``parallel`` threads send the recommend prompts in turn for ``duration_s`` (after
    one warm-up answer, which also loads the model); the answers finished in that time."""
    url = f"{dapr_http_url}/v1.0-alpha2/conversation/{component}/converse"
    http = httpx.Client(timeout=120, headers=headers)
    prompts = recommend_prompts(http, agent_url, dapr_http_url)
    bodies = [converse_body(RECOMMEND_SYSTEM, p) for p in prompts]
    one_call(http, url, bodies[0])
    rows: list[tuple[float, int, int]] = []
    failures: list[str] = []
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + duration_s

    def worker(n: int) -> None:
        i = n
        while time.perf_counter() < deadline:
            try:
                row = one_call(http, url, bodies[i % len(bodies)])
            except (httpx.HTTPError, RuntimeError, ValueError, KeyError) as exc:
                with lock:
                    failures.append(f"{type(exc).__name__}: {str(exc)[:120]}")
                continue
            with lock:
                rows.append(row)
            i += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    completion = sum(c for _, c, _ in rows)
    ms = [m for m, _, _ in rows]
    return {
        "component": component,
        "parallel": parallel,
        "wall_s": round(wall, 1),
        "answers": len(rows),
        "failures": len(failures),
        "first_failures": failures[:3],
        "answers_per_s": round(len(rows) / wall, 3),
        "completion_tokens_per_s": round(completion / wall, 2),
        "prompt_tokens_per_s": round(sum(p for _, _, p in rows) / wall, 2),
        "mean_completion_tokens": round(completion / len(rows), 1) if rows else None,
        "p50_ms": round(pct(ms, 50), 1),
        "p95_ms": round(pct(ms, 95), 1),
        "prompt_chars": [len(p) for p in prompts],
    }


def main() -> int:
    from tools.devstack import Stack
    from tools.stack_settings import StackSettings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parallel", type=int, default=6)
    parser.add_argument("--duration", type=float, default=40)
    args = parser.parse_args()
    if not 1 <= args.parallel <= 20 or not 5 <= args.duration <= 600:
        parser.error("--parallel 1..20, --duration 5..600 s")
    stack = Stack(StackSettings())
    if stack.supervisord_pid() is None:
        parser.error("no stack running: make up (or make up-test) first")
    s = stack.s
    result = drive(
        f"http://127.0.0.1:{s.agent_app_port}",
        f"http://127.0.0.1:{s.agent_dapr_http_port}",
        s.sidecar_headers(),
        parallel=args.parallel,
        duration_s=args.duration,
    )
    print(json.dumps(result, indent=2))
    return 0 if result["answers"] else 1


if __name__ == "__main__":
    sys.exit(main())
