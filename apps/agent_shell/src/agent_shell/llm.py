"""The model, only ever through the Dapr conversation API (``conversation.ollama``).

Every call has a hard deadline (``llm_timeout_s``) on top of the sidecar's resiliency
policy, so a slow or absent Ollama turns into a degraded answer, never a hung request.
How many calls run at once, and whose first, is the model gate's (gate.py, held by the
concierge around every call).
"""

from __future__ import annotations

import asyncio
import logging
import time

from dapr.clients.grpc import conversation
from opentelemetry import trace
from pydantic import BaseModel
from snacktopus_core import sidecar

from agent_shell import metrics
from agent_shell.settings import AgentSettings

log = logging.getLogger("agent_shell.llm")
tracer = trace.get_tracer("agent-shell")


class LLMResult(BaseModel):
    text: str | None
    ok: bool
    latency_ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    model: str | None = None


async def converse(
    settings: AgentSettings, system: str, user: str, *, path: str, component: str | None = None
) -> LLMResult:
    component = component or settings.llm_component
    start = time.perf_counter()
    with tracer.start_as_current_span("llm converse") as span:
        span.set_attribute("snacktopus.llm.component", component)
        span.set_attribute("snacktopus.step", f"llm:{path}")
        try:
            call = lambda: sidecar.dapr_async_client().converse_alpha2(  # noqa: E731
                name=component,
                inputs=[
                    conversation.ConversationInputAlpha2(
                        messages=[
                            conversation.create_system_message(system),
                            conversation.create_user_message(user),
                        ]
                    )
                ],
                # 0 is not forwarded: the Modelfile's greedy decoding applies.
                temperature=0.0,
            )
            resp = await asyncio.wait_for(call(), timeout=settings.llm_timeout_s)
            out = resp.outputs[0]
            text = (out.choices[0].message.content or "").strip() if out.choices else ""
            usage = out.usage
            result = LLMResult(
                text=text or None,
                ok=bool(text),
                latency_ms=(time.perf_counter() - start) * 1000,
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                model=out.model,
                error=None if text else "empty answer",
            )
        except (TimeoutError, Exception) as exc:  # any failure degrades, none escapes
            kind = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            result = LLMResult(
                text=None,
                ok=False,
                latency_ms=(time.perf_counter() - start) * 1000,
                error=f"{kind}: {str(exc)[:200]}",
            )
            log.warning("llm call failed", extra={"path": path, "error": result.error})
        span.set_attribute("snacktopus.status", "ok" if result.ok else "degraded")
        span.set_attribute("snacktopus.llm.prompt_tokens", result.prompt_tokens)
        span.set_attribute("snacktopus.llm.completion_tokens", result.completion_tokens)
    metrics.LLM_SECONDS.labels(path, "ok" if result.ok else "failed").observe(
        result.latency_ms / 1000
    )
    metrics.LLM_TOKENS.labels("prompt").inc(result.prompt_tokens)
    metrics.LLM_TOKENS.labels("completion").inc(result.completion_tokens)
    return result
