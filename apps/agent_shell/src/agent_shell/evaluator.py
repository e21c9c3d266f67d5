"""Checks the agent's own answers and reports every flag as an event.

The model's text is checked sentence by sentence against the basket facts
(:mod:`snacktopus_core.grounding`): a sentence that names food, numbers or allergens
the basket does not hold, claims a safety the basket contradicts, leaks the prompt or is
cut off is dropped before a person sees it, and each drop is a flag that says why. If
nothing is left, the template explanation stands in. A false safety claim is a ``block``
flag scoped to the model's text: it never blocks the basket, which the tools computed.
Deterministic rules on the basket itself (allergens, budget, prices) come from
:mod:`snacktopus_core.safety`, as before.
"""

from __future__ import annotations

import asyncio
import logging

from opentelemetry import trace
from pydantic import BaseModel
from snacktopus_core import grounding, sidecar
from snacktopus_core.events import (
    TOPIC_EVALUATED,
    TOPIC_SAFETY_FLAGGED,
    Evaluated,
    SafetyFlag,
    SafetyFlagged,
)
from snacktopus_core.models import Basket, Profile
from snacktopus_core.safety import check_basket, verdict

from agent_shell import metrics
from agent_shell.settings import AgentSettings

log = logging.getLogger("agent_shell.evaluator")


class DroppedSentence(BaseModel):
    text: str
    reasons: list[str]


class Evaluation(BaseModel):
    grounded: bool
    score: float
    flags: list[SafetyFlag]
    use_model_text: bool
    explanation: str | None = None
    model_sentences: int = 0
    kept: list[str] = []
    dropped: list[DroppedSentence] = []

    @property
    def false_safety_claims(self) -> int:
        return sum(1 for f in self.flags if f.kind == "false_safety")


def _drop_flags(judgement: grounding.Judgement) -> list[SafetyFlag]:
    flags = []
    for check in judgement.dropped:
        unsafe = bool(grounding.SAFETY_REASONS & set(check.reasons))
        flags.append(
            SafetyFlag(
                kind="false_safety" if unsafe else "dropped_sentence",
                severity="block" if unsafe else "warn",
                detail=f"{'; '.join(check.details)[:300]} | {check.text[:150]}",
                scope="model_text",
            )
        )
    return flags


def evaluate_explanation(
    text: str | None,
    basket: Basket,
    profile: Profile | None,
    facts: grounding.Facts,
    error: str | None = None,
) -> Evaluation:
    judgement = grounding.judge(text, facts)
    flags = _drop_flags(judgement)
    if text is None and error:  # no answer, an empty one or a timeout: the template stands in
        flags.append(
            SafetyFlag(
                kind="model_unavailable", severity="warn", detail=error[:500], scope="model_text"
            )
        )
    for f in check_basket(basket, profile):
        flags.append(f.model_copy(update={"scope": "basket"}))
    total = len(judgement.checks)
    for check in judgement.dropped:
        for reason in check.reasons:
            metrics.SENTENCES_DROPPED.labels(reason).inc()
    return Evaluation(
        grounded=not any(c.reasons for c in judgement.checks),
        score=round(len(judgement.kept) / total, 3) if total else 0.0,
        flags=flags,
        use_model_text=bool(judgement.kept),
        explanation=judgement.text or None,
        model_sentences=total,
        kept=list(judgement.kept),
        dropped=[DroppedSentence(text=c.text, reasons=list(c.reasons)) for c in judgement.dropped],
    )


def basket_flags(flags: list[SafetyFlag]) -> list[SafetyFlag]:
    """The flags on what the tools computed: flags on the model's text are left out,
    since the text they judge was dropped before anyone saw it."""
    return [f for f in flags if f.scope != "model_text"]


def basket_verdict(flags: list[SafetyFlag]) -> str:
    return verdict(basket_flags(flags))


async def publish(topic: str, event: SafetyFlagged | Evaluated, settings: AgentSettings) -> None:
    try:
        await sidecar.dapr_async_client().publish_event(
            pubsub_name=settings.pubsub_name,
            topic_name=topic,
            data=event.model_dump_json(),
            data_content_type="application/json",
        )
    except Exception as exc:  # an event lost must not fail the answer; it is logged
        log.error("publish failed", extra={"topic": topic, "error": str(exc)[:200]})


async def report(
    settings: AgentSettings,
    *,
    source: str,
    user_id: str,
    session_id: str | None,
    order_id: str | None,
    flags: list[SafetyFlag],
    trace_id: str | None,
    evaluation: Evaluation | None = None,
    degraded: bool = False,
    model: str | None = None,
) -> None:
    span = trace.get_current_span()
    span.set_attribute("snacktopus.step", source)
    span.set_attribute("snacktopus.degraded", degraded)
    if order_id:
        span.set_attribute("snacktopus.order_id", order_id)
    if flags:
        span.set_attribute("snacktopus.safety.flag", ",".join(sorted({f.kind for f in flags})))
    for f in flags:
        metrics.SAFETY_FLAGS.labels(f.kind, f.severity, source).inc()
    # Two topics, no order between them: published together, one round trip of waiting.
    events = []
    if flags:
        events.append(
            publish(
                TOPIC_SAFETY_FLAGGED,
                SafetyFlagged(
                    user_id=user_id,
                    session_id=session_id,
                    order_id=order_id,
                    source=source,
                    verdict="block" if verdict(flags) == "block" else "warn",
                    flags=flags,
                    trace_id=trace_id,
                ),
                settings,
            )
        )
    if evaluation is not None:
        events.append(
            publish(
                TOPIC_EVALUATED,
                Evaluated(
                    user_id=user_id,
                    session_id=session_id,
                    order_id=order_id,
                    source=source,
                    grounded=evaluation.grounded,
                    degraded=degraded,
                    score=evaluation.score,
                    flags=evaluation.flags,
                    model=model,
                    explanation_source="model" if evaluation.use_model_text else "template",
                    model_sentences=evaluation.model_sentences,
                    kept_sentences=len(evaluation.kept),
                    false_safety_claims=evaluation.false_safety_claims,
                    trace_id=trace_id,
                ),
                settings,
            )
        )
    await asyncio.gather(*events)
