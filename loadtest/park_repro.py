"""The one-second park, reproduced: a bare fan-out/fan-in Dapr workflow and the count of
its runs that daprd parked for a second (``make park-repro``).

    .venv/bin/python loadtest/park_repro.py [--runs 40] [--daprd PATH] [--port-offset N]

A stack of its own (``.run/park``, an empty store each time) runs only Redis, placement,
scheduler and the ``bare-bench`` app (``loadtest/bare_workflow.py``) under one daprd; no
Snacktopus code. Each run is one activity, a fan-out of four, the fan-in, one more
activity; runs go one at a time. A run counts as parked when its sidecar logged the
``DaprBuiltInActorNotFoundRetries`` retry while it ran and it took a second longer than
the fastest run.

The cause, in dapr v1.18.2 (``pkg/actors/targets/workflow/orchestrator``): each of the
four activity results is added to the workflow actor's inbox with a wake-up reminder of
its own (``new-event-…``). The first wake-up runs the workflow over every result already
there; the later ones find the inbox empty, and ``runWorkflow`` answers that case with
``todo.RunCompletedTrue`` (meaning only "ack the reminder"), which
``runWorkflowFromReminder`` also reads as "the workflow is finished" and deactivates the
actor. The next activity's result, already queued on that actor's lock, is refused ("actor
is closed, cannot handle lock"); the actor router retries it under the protected built-in
policy ``DaprBuiltInActorNotFoundRetries``: constant, 1 s. ``--daprd`` runs the same
reproduction on another daprd binary (a patched build: docs/OPERATION_SNACKTOPUS_TESTPLAN.md
Appendix B).

Our daprd flavour carries the fix (``runtime/daprd/patches/park-empty-inbox.patch``), so
on it the count is 0; ``tests/integration/test_park.py`` runs this beside the test stack
(``--port-offset``: every port of the stack moved by N) and holds it to that.

Prints the count and writes ``loadtest/results/park-<date>.json`` (or ``--out``). Exit 0
whatever the count: this measures the runtime, it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtest.bench import Bench  # noqa: E402
from loadtest.stats import pct  # noqa: E402
from tools.devstack import Stack  # noqa: E402
from tools.stack_settings import StackSettings  # noqa: E402

# Everything of the bench profile but the store, the control plane and the bare workflow.
NOT_NEEDED = {
    "zipkin",
    "ollama",
    "smtp",
    "agent",
    "daprd-agent",
    "workflow",
    "daprd-workflow",
    "bareagent",
    "daprd-bareagent",
}
# One activity, a fan-out/fan-in of four, one more: the smallest shape that parks.
SHAPE = {"activities": 6}


def park_stack(daprd: Path | None, port_offset: int = 0) -> Stack:
    mine = Stack(StackSettings())
    if port_offset == 0 and (pid := mine.supervisord_pid()) is not None:
        raise SystemExit(f"a stack is running (supervisord pid {pid}) on these ports: make down")
    settings = StackSettings(run_dir=mine.run / ("park" if port_offset == 0 else "park-offset"))
    if port_offset:
        moved = {name: port + port_offset for name, port in settings.ports().items()}
        settings = StackSettings.model_validate({**settings.model_dump(), **moved})
    stack = Stack(settings)
    if stack.supervisord_pid() is not None:
        raise SystemExit(f"{stack.run} has a stack running: stop it first")
    for data in ("redis", "scheduler"):
        shutil.rmtree(stack.run / data, ignore_errors=True)
    if daprd is not None:
        stack.daprd = daprd.resolve()
    return stack


def measure(stack: Stack, runs: int) -> dict:
    b = Bench(stack)
    for _ in range(3):  # warm-up: actor types registered, the app's worker connected
        b.one_run("bare", SHAPE)
    rows = []
    for _ in range(runs):
        b.stalls["bare"].take()
        ms = b.one_run("bare", SHAPE, poll_s=0.005)
        rows.append((ms, b.stalls["bare"].take() > 0))
    fastest = min(ms for ms, _ in rows)
    parked = [ms for ms, logged in rows if logged and ms >= fastest + 900]
    free = [ms for ms, logged in rows if not (logged and ms >= fastest + 900)]
    return {
        "runs": runs,
        "parked_runs": len(parked),
        "retries_logged_in_runs": sum(1 for _, logged in rows if logged),
        "p50_ms": round(pct([ms for ms, _ in rows], 50), 1),
        "p50_unparked_ms": round(pct(free, 50), 1),
        "p50_parked_ms": round(pct(parked, 50), 1) if parked else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--daprd", type=Path, help="daprd binary (default: our flavour's)")
    parser.add_argument(
        "--port-offset", type=int, default=0, help="move every port of the stack by N"
    )
    parser.add_argument("--out", type=Path, help="result file (default: loadtest/results/)")
    args = parser.parse_args()
    if not 5 <= args.runs <= 500:
        parser.error("--runs must be 5..500")
    if not 0 <= args.port_offset <= 5000:
        parser.error("--port-offset must be 0..5000")
    if args.daprd is not None and not args.daprd.is_file():
        parser.error(f"--daprd {args.daprd}: no such file")
    stack = park_stack(args.daprd, args.port_offset)
    stack.up("bench", True, timeout=240, without=NOT_NEEDED)
    try:
        version = subprocess.run(
            [str(stack.daprd), "--version"], capture_output=True, text=True
        ).stdout.strip()
        result = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "daprd": str(stack.daprd),
            "daprd_version": version,
            "shape": "1 activity, fan-out/fan-in of 4, 1 activity; one run at a time",
            **measure(stack, args.runs),
        }
    finally:
        stack.down()
    print(
        f"parked runs: {result['parked_runs']} of {result['runs']} "
        f"(p50 {result['p50_ms']} ms, unparked p50 {result['p50_unparked_ms']} ms, "
        f"parked p50 {result['p50_parked_ms']} ms; daprd {version})"
    )
    out = args.out or ROOT / "loadtest" / "results" / f"park-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
