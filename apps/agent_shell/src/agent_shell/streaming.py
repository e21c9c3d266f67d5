"""The streamed ``/ask``: the basket as soon as the tools priced it, the explanation once
the evaluator checked it, then the same body the JSON ``/ask`` answers.

The model's words are never streamed as they come: every sentence a person sees has
passed the grounding checks (evaluator.py), and those judge whole sentences. What the
stream buys is the basket, prices and safety flags before the model writes a word.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from snacktopus_core import sse
from snacktopus_core.contracts import (
    AskBasket,
    AskExplanation,
    AskResponse,
    Problem,
    SafetySummary,
)
from snacktopus_core.errors import SnacktopusError

from agent_shell import evaluator
from agent_shell.concierge import AskStart, Outcome

log = logging.getLogger("agent_shell.streaming")

EXAMPLE = (
    'event: basket\ndata: {"session_id": "s-1", "entry_id": "e1", "basket": {...}, '
    '"safety": {"verdict": "ok", "flags": []}, ...}\n\n'
    'event: explanation\ndata: {"explanation": "...", "explanation_source": "model", '
    '"degraded": false}\n\n'
    'event: done\ndata: {"answer": "...", "basket": {...}, ...}\n\n'
)


def basket_event(start: AskStart) -> AskBasket:
    flags = start.safety_flags()
    plan, entry = start.plan, start.entry
    return AskBasket(
        session_id=entry.session_id,
        entry_id=entry.entry_id,
        basket=plan.basket if plan else None,
        safety=SafetySummary(verdict=evaluator.basket_verdict(flags), flags=flags),
        memory_used=plan.memory_used if plan else [],
        tools_used=list(plan.tools_used) if plan else [],
        blocked=start.outcome is not None and start.outcome.blocked,
        trace_id=entry.trace_id,
    )


def explanation_event(body: AskResponse) -> AskExplanation:
    source = body.evaluation.explanation_source if body.evaluation else "refusal"
    return AskExplanation(
        explanation=body.explanation, explanation_source=source, degraded=body.degraded
    )


async def ask_events(
    start: AskStart,
    answering: asyncio.Task[Outcome],
    to_response: Callable[[Outcome], AskResponse],
) -> AsyncIterator[str]:
    """The frames of one streamed answer. ``answering`` (the rest of the ask, started by
    the caller) runs to its end even if the reader leaves, so the answer is remembered."""
    yield sse.frame("basket", basket_event(start))
    try:
        outcome = await asyncio.shield(answering)
    except Exception as exc:  # the status line is sent: the error becomes an event
        log.exception("streamed answer failed", extra={"entry_id": start.entry.entry_id})
        detail = str(exc) if isinstance(exc, SnacktopusError) else "internal error"
        yield sse.frame("error", Problem(detail=detail))
        return
    body = to_response(outcome)
    yield sse.frame("explanation", explanation_event(body))
    yield sse.frame("done", body)
