"""The bare baseline for ``make bench``: a Dapr workflow with no Snacktopus code.

Trivial activities in the snacktopus workflow's shape (one step, a fan-out/fan-in of four,
then the rest in sequence), on the same runtime (daprd, placement, scheduler) and the same
Redis, under its own sidecar (app-id ``bare-bench``, bench profile of the local stack).
The input says how many activities to run, so the benchmark can match the count it
measured on snacktopus runs. An HTTP port answers ``/healthz`` for the stack's checks.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import dapr.ext.workflow as wf
import uvicorn
from fastapi import FastAPI


def step(ctx: wf.WorkflowActivityContext, value: Any) -> Any:
    return value


def bare(ctx: wf.DaprWorkflowContext, inp: dict[str, Any]) -> Generator[Any, Any, int]:
    total = max(5, int(inp.get("activities", 10)))
    yield ctx.call_activity(step, input=0)
    yield wf.when_all([ctx.call_activity(step, input=i) for i in range(4)])
    for i in range(total - 5):
        yield ctx.call_activity(step, input=i)
    return total


runtime = wf.WorkflowRuntime()
runtime.register_workflow(bare, name="bare")
runtime.register_activity(step, name="step")
app = FastAPI(title="bare-bench")


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    runtime.start()
    try:
        port = int(os.environ.get("BARE_APP_PORT", "8004"))
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    finally:
        runtime.shutdown()
