"""Checks the agent's own answers and reports every flag as an event.

Deterministic heuristics decide (allergens from the profile against basket and answer,
budget, injection markers, length, catalog grounding); the model's text is checked, never
trusted: an explanation that names products or prices not in the basket is dropped in
favour of the template one, and the answer says so in its flags.
"""

from __future__ import annotations

import logging
import re

from opentelemetry import trace
from pydantic import BaseModel
from snacktopus_core.catalog import load_catalog
from snacktopus_core.events import (
    TOPIC_EVALUATED,
    TOPIC_SAFETY_FLAGGED,
    Evaluated,
    SafetyFlag,
    SafetyFlagged,
)
from snacktopus_core.models import Basket, Profile
from snacktopus_core.safety import check_answer, check_basket, verdict

from agent_shell import metrics, state
from agent_shell.settings import AgentSettings

log = logging.getLogger("agent_shell.evaluator")
_PRICE = re.compile(r"\$\s?(\d+(?:\.\d{1,2})?)")
MAX_EXPLANATION_CHARS = 600


class Evaluation(BaseModel):
    grounded: bool
    score: float
    flags: list[SafetyFlag]
    use_model_text: bool


def _product_names() -> set[str]:
    return {item.name.split(" (")[0].lower() for item in load_catalog()}


def evaluate_explanation(text: str | None, basket: Basket, profile: Profile | None) -> Evaluation:
    flags: list[SafetyFlag] = []
    use_model = bool(text)
    if text:
        low = text.lower()
        in_basket = {ln.name.split(" (")[0].lower() for ln in basket.lines}
        foreign = sorted(n for n in _product_names() - in_basket if n in low)
        if foreign:
            flags.append(
                SafetyFlag(
                    kind="ungrounded",
                    severity="warn",
                    detail=f"model named products not in the basket: {', '.join(foreign[:3])}",
                )
            )
        known = {round(ln.line_total_usd, 2) for ln in basket.lines}
        known |= {round(ln.unit_price_usd, 2) for ln in basket.lines} | {basket.total_usd}
        bad = [p for p in (float(m) for m in _PRICE.findall(text)) if round(p, 2) not in known]
        if bad:
            flags.append(
                SafetyFlag(
                    kind="ungrounded",
                    severity="warn",
                    detail=f"model quoted prices not in the basket: {bad[:3]}",
                )
            )
        flags += check_answer(text, profile)
        if len(text) > MAX_EXPLANATION_CHARS:
            flags.append(SafetyFlag(kind="too_long", severity="warn", detail=f"{len(text)} chars"))
        use_model = not flags
    flags += check_basket(basket, profile)
    grounded = not any(f.kind == "ungrounded" for f in flags)
    score = max(0.0, 1.0 - 0.25 * len(flags))
    return Evaluation(grounded=grounded, score=score, flags=flags, use_model_text=use_model)


async def publish(topic: str, event: SafetyFlagged | Evaluated, settings: AgentSettings) -> None:
    try:
        await state.client().publish_event(
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
    if flags:
        await publish(
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
    if evaluation is not None:
        await publish(
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
                trace_id=trace_id,
            ),
            settings,
        )
