"""``make demo``: one order end to end on the real local stack, printed as it goes.

Starts the stack (unless one is already up), shows the model answering through Dapr,
sets up a profile, asks the concierge, then walks an order over the approval threshold
through enrichment, recommendation, the approval prompt (answered with the
``snacktopus-approve`` CLI, or by you with ``--interactive``) and completion. Stops the
stack again if it started it (``--keep`` leaves it running).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from rich.console import Console
from rich.panel import Panel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: make tools/ importable as a package

from tools.devstack import Stack  # noqa: E402
from tools.stack_settings import StackSettings  # noqa: E402

console = Console(highlight=False)


def step(title: str) -> None:
    console.rule(f"[bold cyan]{title}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interactive", action="store_true", help="you approve or reject")
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    args = parser.parse_args()

    settings = StackSettings()
    stack = Stack(settings)
    started = False
    if stack.supervisord_pid() is None:
        step("1. starting the local stack")
        stack.up("dev", True, timeout=300)
        started = True
    else:
        console.print(f"reusing the running stack (profile {stack.profile()})")
    agent = f"http://127.0.0.1:{settings.agent_app_port}"
    workflow = f"http://127.0.0.1:{settings.workflow_app_port}"
    http = httpx.Client(timeout=120, headers=settings.sidecar_headers())
    try:
        step("2. the model, through Dapr's conversation API (conversation.ollama)")
        t = time.perf_counter()
        r = http.post(
            f"http://127.0.0.1:{settings.agent_dapr_http_port}/v1.0-alpha2/conversation/llm/converse",
            json={
                "inputs": [
                    {
                        "messages": [
                            {
                                "ofUser": {
                                    "content": [{"text": "A good snack for an office meeting is"}]
                                }
                            }
                        ]
                    }
                ]
            },
        )
        r.raise_for_status()
        out = r.json()["outputs"][0]
        console.print(
            f"[green]{out['model']}[/] ({time.perf_counter() - t:.1f} s): "
            f"{out['choices'][0]['message']['content']}"
        )

        step("3. a one-activity Dapr workflow")
        wid = f"demo-smoke-{uuid.uuid4().hex[:8]}"
        base = f"http://127.0.0.1:{settings.workflow_dapr_http_port}/v1.0/workflows/dapr"
        http.post(f"{base}/smoke/start", params={"instanceID": wid}, json="demo").raise_for_status()
        for _ in range(100):
            state = http.get(f"{base}/{wid}").json()
            if state.get("runtimeStatus") in {"COMPLETED", "FAILED"}:
                break
            time.sleep(0.2)
        console.print(
            f"workflow {wid}: [green]{state['runtimeStatus']}[/] -> "
            f"{state['properties'].get('dapr.workflow.output')}"
        )

        user = f"demo-{uuid.uuid4().hex[:6]}"
        step(f"4. a profile for {user}: allergic to peanuts, gluten-free")
        profile = {
            "display_name": "Demo Team",
            "allergies": ["peanut"],
            "diet": ["gluten_free"],
            "budget_usd": 400,
        }
        http.put(f"{agent}/profile/{user}", json=profile).raise_for_status()
        console.print(json.dumps(profile))

        step("5. asking the concierge (DurableAgent, memory, safety)")
        question = "Something gluten-free for 12 people under $80"
        console.print(f"[bold]Q:[/] {question}")
        ans = http.post(f"{agent}/ask", json={"user_id": user, "question": question}).json()
        console.print(
            Panel(ans["answer"], title=f"A ({'degraded' if ans['degraded'] else ans['model']})")
        )
        console.print(
            f"tools: {ans['tools_used']}  memory: {ans['memory_used']}  "
            f"safety: {ans['safety']['verdict']}  trace: {ans['trace_id']}"
        )

        step("6. an order over the approval threshold")
        order = {
            "user_id": user,
            "request": "gluten-free snacks and drinks for the offsite",
            "headcount": 120,
            "budget_usd": 400,
        }
        r = http.post(f"{workflow}/orders", json=order)
        r.raise_for_status()
        order_id = r.json()["order_id"]
        console.print(f"started {order_id} -> {r.json()['status_url']}")
        seen: set[str] = set()
        run: dict = {}
        while True:
            run = http.get(f"{workflow}/orders/{order_id}").json().get("run") or {}
            for s in run.get("steps", []):
                if s["step"] not in seen:
                    seen.add(s["step"])
                    console.print(
                        f"  [green]✓[/] {s['step']:<20} {s['duration_ms']:>8.0f} ms  "
                        f"{s.get('detail') or ''}"
                    )
            if run.get("status") in {
                "awaiting_approval",
                "completed",
                "blocked",
                "rejected",
                "timed_out",
                "failed",
            }:
                break
            time.sleep(0.3)
        if run["status"] == "awaiting_approval":
            basket = "\n".join(
                f"{ln['quantity']} x {ln['name']}  ${ln['line_total_usd']:.2f}"
                for ln in run["basket"]["lines"]
            )
            console.print(
                Panel(f"{basket}\n\nTotal ${run['total_usd']:.2f}", title="approval needed")
            )
            cli = str(ROOT / ".venv" / "bin" / "snacktopus-approve")
            if args.interactive:
                answer = console.input("approve? [y/N] ").strip().lower()
                cmd = (
                    [cli, "approve", order_id, "--approver", "alice"]
                    if answer == "y"
                    else [
                        cli,
                        "reject",
                        order_id,
                        "--reason",
                        "declined in the demo",
                        "--approver",
                        "alice",
                    ]
                )
            else:
                cmd = [cli, "approve", order_id, "--approver", "alice"]
            console.print(f"$ snacktopus-approve {' '.join(cmd[1:])}")
            # The local stack's approver token, as an approver would keep it in their env.
            token = settings.approver_token("alice") or ""
            env = {**os.environ, "SNACKTOPUS_APPROVER_TOKEN": token}
            subprocess.run(cmd, check=True, env=env)
            subprocess.run([cli, "watch", order_id, "--timeout", "120"], check=True)
            run = http.get(f"{workflow}/orders/{order_id}").json()["run"]
        step(f"7. {order_id}: {run['status']}")
        for s in run["steps"]:
            if s["step"] not in seen:
                console.print(
                    f"  [green]✓[/] {s['step']:<20} {s['duration_ms']:>8.0f} ms  "
                    f"{s.get('detail') or ''}"
                )
        console.print(
            f"total ${run['total_usd']:.2f}; approval {run['approval']['decision']} by "
            f"{run['approval']['approver']}; compensations {run['compensations'] or '-'}"
        )
        if run.get("trace_id"):
            console.print(
                f"trace: http://127.0.0.1:{settings.zipkin_port}/zipkin/traces/{run['trace_id']}"
            )
        return 0 if run["status"] == "completed" else 1
    finally:
        http.close()
        if started and not args.keep:
            step("stopping the stack")
            stack.down()


if __name__ == "__main__":
    sys.exit(main())
