"""The DurableAgent: agent-shell's brain, its state durable in the Dapr state store.

Its LLM is the Dapr conversation component (``llm``: Ollama), never a direct client. Each
ask runs as a workflow instance ``ask-<entry>`` of the agent, so a restart of the app
mid-answer resumes the instance when the worker reconnects; concierge.py records the
instance id before it runs and collects finished answers at start-up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dapr_agents.agents.base as agents_base
import httpx
from dapr.clients import DaprClient
from dapr.ext.workflow import DaprWorkflowClient
from dapr_agents import AgentRunner, DaprChatClient, DurableAgent, tool
from opentelemetry import trace
from snacktopus_core.retry import poll_until

from agent_shell import metrics, tools
from agent_shell.settings import AgentSettings

log = logging.getLogger("agent_shell.agent")
tracer = trace.get_tracer("agent-shell")
# The span around the DurableAgent's run (its workflow on daprd and the model call): the
# rest of an ``/ask`` server span is our own pipeline (``make bench`` reads both).
AGENT_RUN_SPAN = "durable agent run"

# Short on purpose: every token here is read before each answer, on two CPU cores, and
# the models complete the few-shot prompt (prompts/explain.txt) that follows it.
INSTRUCTIONS = ["Snack basket facts, then one short true sentence about them."]


def wait_for_sidecar(settings: AgentSettings, timeout: float = 60.0) -> None:
    """The agent's constructor reads the sidecar's metadata: wait until it answers."""
    url = f"{settings.dapr_http_url}/v1.0/healthz/outbound"

    def ready() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code in (200, 204)
        except httpx.HTTPError:
            return False

    if not poll_until(ready, timeout, every=0.5):
        raise RuntimeError(f"daprd at {settings.dapr_http_url} not ready after {timeout} s")


class SharedDaprClient(DaprClient):
    """The one gRPC client behind every Dapr call dapr-agents makes in this process.

    dapr-agents asks a client *factory* for a fresh ``DaprClient`` around each state read
    or write and each LLM call, and closes it after: each one a sidecar health check over
    HTTP plus a new gRPC channel and connection. That comes to 26 clients per ``/ask``
    (counted on the sidecar's ``/v1.0/healthz/outbound`` requests), most of the agent's
    ~130 ms beyond the model (``make bench``). Our factory hands out this one client
    instead; callers' ``with`` blocks end in :meth:`close`, which leaves the channel open
    (gRPC channels are thread-safe, and the agent's activities run in a thread pool), and
    :meth:`shutdown` closes it when the app stops.
    """

    def close(self) -> None:
        pass

    def shutdown(self) -> None:
        super().close()


@contextmanager
def _agent_client_factory(factory: Callable[[], DaprClient]) -> Iterator[None]:
    """While an agent is built, its client factory is ``factory``.

    ``AgentBase.__init__`` makes its factory with ``make_dapr_client_factory`` and hands
    it to its memory, state and registry stores there and then; it takes no factory
    argument, so this swaps that one module attribute for the constructor's duration.
    """
    original = agents_base.make_dapr_client_factory
    agents_base.make_dapr_client_factory = lambda config=None: factory
    try:
        yield
    finally:
        agents_base.make_dapr_client_factory = original


class ConciergeAgent(DurableAgent):
    """The DurableAgent minus its per-instance conversation summary.

    dapr-agents summarizes every finished instance into its own memory with a second LLM
    call. Cross-session memory is ours (memory.py, which summarizes per session when a
    session grows), so that call would double the latency of every ask for a summary
    nobody reads.
    """

    def _summarize_conversation(self, instance_id, messages, tool_history):  # type: ignore[override]
        return {"content": ""}


class GreedyChatClient(DaprChatClient):
    """The conversation component, asked for greedy decoding.

    DaprChatClient sends ``temperature=1`` when a call names none (dapr-agents works
    around an older langchaingo that way), which overrides the Modelfile's setting; at 1
    the small model invents three times as often (``make eval``). A temperature of 0 is
    not forwarded by conversation.ollama, so the Modelfile's own (0) applies."""

    def generate(self, *args, temperature: float | None = None, **kwargs):  # type: ignore[override]
        return super().generate(*args, temperature=temperature or 0.0, **kwargs)


class Brain:
    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        agent_tools = (
            [tool(tools.search_snacks), tool(tools.price_snacks)]
            if settings.agent_model_tools
            else []
        )
        self.client = SharedDaprClient()
        factory = lambda: self.client  # noqa: E731
        with _agent_client_factory(factory):
            self.agent = ConciergeAgent(
                name=settings.agent_name,
                role="Snack concierge",
                goal="Explain snack baskets for office teams, briefly and truthfully.",
                instructions=INSTRUCTIONS,
                llm=GreedyChatClient(component_name=settings.llm_component, client_factory=factory),
                tools=agent_tools,
            )
        self.runner = AgentRunner(client_factory=factory)
        self.workflows = DaprWorkflowClient()

    async def explain(self, task: str, instance_id: str) -> tuple[str | None, float, str | None]:
        """Runs one agent instance; returns (text, latency ms, error)."""
        start = time.perf_counter()
        with tracer.start_as_current_span(AGENT_RUN_SPAN) as span:
            span.set_attribute("snacktopus.agent.instance_id", instance_id)
            try:
                # The caller holds a model slot for the agent's whole run (gate.py).
                raw = await asyncio.wait_for(
                    self.runner.run(
                        self.agent,
                        {"task": task},
                        instance_id=instance_id,
                        wait=True,
                        timeout_in_seconds=int(self.settings.llm_timeout_s) + 1,
                        log=False,
                    ),
                    timeout=self.settings.llm_timeout_s,
                )
                text, error = self.parse(raw), None
                if not text:
                    error = "agent returned no answer"
            except Exception as exc:  # timeout included: the answer degrades, never hangs
                text = None
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
            span.set_attribute("snacktopus.status", "ok" if text else "degraded")
        ms = (time.perf_counter() - start) * 1000
        metrics.LLM_SECONDS.labels("ask", "ok" if text else "failed").observe(ms / 1000)
        return text, ms, error

    @staticmethod
    def parse(raw: str | None) -> str | None:
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return raw.strip() or None
        if isinstance(value, dict):
            value = value.get("content") or value.get("output") or ""
        return str(value).strip() or None

    def finished_output(self, instance_id: str) -> tuple[str, str | None] | None:
        """For start-up recovery: (runtime status, text) of an agent instance, or None."""
        state = self.workflows.get_workflow_state(instance_id, fetch_payloads=True)
        if state is None:
            return None
        return state.runtime_status.name, self.parse(state.serialized_output)

    def shutdown(self) -> None:
        try:
            self.runner.shutdown(self.agent)
        except Exception as exc:
            log.warning("agent shutdown", extra={"error": str(exc)[:200]})
        self.client.shutdown()
