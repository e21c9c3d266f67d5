"""The bare baseline for ``/ask`` in ``make bench``: a DurableAgent of the dapr-agents
quickstart shape, with no Snacktopus code.

One ``DurableAgent`` on the same conversation component as agent-shell in the bench
profile (``llm-echo``) and the same actor state store (``agent-workflow``), under its own
sidecar (app-id ``bare-agent``); ``POST /run`` runs one task through
``AgentRunner.run(..., wait=True)``, as agent-shell's ``/ask`` does, and answers the
agent's text. The benchmark sends it the very prompt ``/ask`` gave its own agent, so the
two differ only by Snacktopus' pipeline around the agent.

One departure from the quickstart's defaults, made in both: the per-instance conversation
summary (a second model call after every answer) is off, as agent-shell's is, so each
side makes exactly one model call per ask.
"""

from __future__ import annotations

import os
import time
from contextlib import asynccontextmanager

import httpx
import uvicorn
from dapr_agents import AgentRunner, DaprChatClient, DurableAgent
from fastapi import FastAPI
from pydantic import BaseModel

COMPONENT = os.environ.get("BARE_AGENT_LLM_COMPONENT", "llm-echo")


class OneCallAgent(DurableAgent):
    def _summarize_conversation(self, instance_id, messages, tool_history):  # type: ignore[override]
        return {"content": ""}


class Task(BaseModel):
    task: str


def wait_for_sidecar(timeout: float = 60.0) -> None:
    """The agent's constructor reads the sidecar's metadata: wait until it answers."""
    url = f"http://127.0.0.1:{os.environ.get('DAPR_HTTP_PORT', '3500')}/v1.0/healthz/outbound"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code in (200, 204):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"sidecar not ready after {timeout} s")


@asynccontextmanager
async def lifespan(app: FastAPI):
    wait_for_sidecar()
    app.state.agent = OneCallAgent(
        name="bare-agent",
        role="Snack concierge",
        goal="Explain snack baskets for office teams, briefly and truthfully.",
        instructions=["Snack basket facts, then one short true sentence about them."],
        llm=DaprChatClient(component_name=COMPONENT),
    )
    app.state.runner = AgentRunner()
    try:
        yield
    finally:
        app.state.runner.shutdown(app.state.agent)


app = FastAPI(title="bare-agent", lifespan=lifespan)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/run")
async def run(body: Task) -> dict[str, str | None]:
    raw = await app.state.runner.run(app.state.agent, {"task": body.task}, wait=True, log=False)
    return {"answer": raw}


if __name__ == "__main__":
    port = int(os.environ.get("BAREAGENT_APP_PORT", "8005"))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
