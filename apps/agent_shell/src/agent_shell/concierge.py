"""The concierge pipeline behind ``/ask`` and ``/recommend``.

1. safety on the question: a blocked question never reaches the model
2. profile + memory recall (summary, relevant entries, earlier baskets' SKUs)
3. tools compute the basket: search, allergen filter, pricing within budget
4. the model writes a short explanation (DurableAgent for /ask, conversation API for
   /recommend); past the deadline or on failure, a template explanation, ``degraded``
5. the evaluator checks the explanation and basket; ungrounded model text is dropped
6. memory records the exchange; flags and the evaluation are published as events
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from pydantic import BaseModel
from snacktopus_core import catalog
from snacktopus_core.events import SafetyFlag
from snacktopus_core.models import Basket, Profile
from snacktopus_core.safety import check_text, verdict
from snacktopus_core.telemetry import current_trace_id

from agent_shell import evaluator, llm, memory, metrics, profiles, state, tools
from agent_shell.agent import INSTRUCTIONS, Brain
from agent_shell.memory import Answer, Memory, MemoryEntry, Question, Recall
from agent_shell.settings import AgentSettings

log = logging.getLogger("agent_shell.concierge")
PENDING_KEY = "pending-asks"


class Outcome(BaseModel):
    answer: str
    explanation: str
    basket: Basket | None
    session_id: str
    entry_id: str
    memory_used: list[str]
    tools_used: list[str]
    safety_verdict: str
    safety_flags: list[SafetyFlag]
    evaluation: evaluator.Evaluation | None
    degraded: bool
    blocked: bool
    model: str | None
    llm_ms: float | None
    trace_id: str | None


def describe(basket: Basket, headcount: int, budget: float, profile: Profile | None) -> str:
    if not basket.lines:
        return (
            f"I could not fit anything safe for {headcount} within ${budget:.2f}; "
            "try a larger budget or fewer restrictions."
        )
    avoid = sorted(catalog.excluded_allergens(profile.allergies, profile.diet)) if profile else []
    lines = ", ".join(f"{ln.quantity}x {ln.name} (${ln.line_total_usd:.2f})" for ln in basket.lines)
    text = (
        f"For {headcount} people within ${budget:.2f}: {lines}. "
        f"Total ${basket.total_usd:.2f} for {basket.servings} servings."
    )
    if avoid:
        text += f" Everything avoids {', '.join(avoid)}."
    return text


def template_explanation(basket: Basket) -> str:
    if not basket.lines:
        return "No basket fits the constraints."
    cats = sorted({ln.name.split(" (")[0] for ln in basket.lines})
    return f"A mix of {', '.join(cats)} gives variety at the lowest price per serving."


def explain_prompt(
    question: str, basket: Basket, headcount: int, profile: Profile | None, recall: Recall | None
) -> str:
    items = "; ".join(f"{ln.quantity} x {ln.name}" for ln in basket.lines)
    diet = ", ".join(profile.diet) if profile and profile.diet else "none"
    avoid = ", ".join(profile.allergies) if profile and profile.allergies else "none"
    past = f" Earlier: {recall.summary[-300:]}" if recall and recall.summary else ""
    return (
        f"Team of {headcount}. Diet: {diet}. Allergies: {avoid}. Request: {question[:300]}.{past}\n"
        f"Basket: {items}. Total ${basket.total_usd:.2f}.\n"
        "In one or two sentences, say why this basket suits them."
    )


class Concierge:
    def __init__(self, settings: AgentSettings, brain: Brain | None) -> None:
        self.settings = settings
        self.brain = brain
        self.memory = Memory(settings, summarize=self._summarize)

    async def _summarize(self, entries: list[MemoryEntry], previous: str | None) -> str | None:
        text = memory.extractive_summary(entries, previous)
        result = await llm.converse(
            self.settings,
            "Summarize this snack-order history in at most three short lines.",
            text[-2000:],
            path="summarize",
        )
        # The model's summary is kept only beside the extractive facts, never instead.
        return f"{text}\n(summary: {result.text[:300]})" if result.ok and result.text else None

    def _budget(self, profile: Profile | None) -> float:
        if profile and profile.budget_usd:
            return profile.budget_usd
        return self.settings.default_budget_usd

    def _plan(
        self, question: str, profile: Profile | None, recall: Recall
    ) -> tuple[int, float, Basket]:
        """The tools' part of an answer (headcount and budget from the question and profile,
        the allergen-safe candidates, the priced basket), shared by a fresh ask and one
        recovered after a restart so both compute the same basket."""
        headcount, budget = tools.parse_request(
            question, self.settings.default_headcount, self._budget(profile)
        )
        candidates = tools.search_catalog(
            question,
            list(profile.allergies) if profile else [],
            list(profile.diet) if profile else [],
        )
        basket = tools.price_basket(candidates, headcount, budget, recall.preferred_skus)
        return headcount, budget, basket

    # ------------------------------------------------------------------------------ /ask
    async def ask(self, user_id: str, session_id: str | None, question: str) -> Outcome:
        session_id = session_id or f"s-{uuid.uuid4().hex[:12]}"
        entry_id = uuid.uuid4().hex[:16]
        trace_id = current_trace_id()
        flags = check_text(question)
        if verdict(flags) == "block":
            return await self._blocked(user_id, session_id, entry_id, question, flags, trace_id)

        entry = MemoryEntry(
            entry_id=entry_id,
            user_id=user_id,
            session_id=session_id,
            question=Question(text=question),
            trace_id=trace_id,
        )
        instance_id = f"ask-{entry_id}"
        # Independent reads and the pending mark, together: each is a sidecar round trip.
        # A failure before the model runs unmarks the ask, so a restart does not answer it.
        try:
            profile, recall, _ = await asyncio.gather(
                profiles.get(user_id),
                self.memory.recall(user_id, session_id, question),
                self._mark_pending(entry, instance_id),
            )
            headcount, budget, basket = self._plan(question, profile, recall)
            conflicts = tools.check_allergens(basket.skus, profile) if profile else {}
            if any(conflicts.values()):  # search excludes them: reaching here is a bug
                raise RuntimeError(f"allergen filter let through {conflicts}")
        except Exception:
            await self._clear_pending(entry_id)
            raise
        tools_used = ["search_catalog", "check_allergens", "price_basket"]

        model_text, llm_ms, error = (None, None, "no agent")
        if self.brain is not None:
            model_text, llm_ms, error = await self.brain.explain(
                explain_prompt(question, basket, headcount, profile, recall), instance_id
            )
        outcome = await self._finish(
            entry,
            basket,
            headcount,
            budget,
            profile,
            model_text,
            llm_ms,
            error,
            flags,
            recall,
            tools_used,
            source="ask",
        )
        await self._clear_pending(entry_id)
        return outcome

    async def _finish(
        self,
        entry: MemoryEntry,
        basket: Basket,
        headcount: int,
        budget: float,
        profile: Profile | None,
        model_text: str | None,
        llm_ms: float | None,
        error: str | None,
        flags: list[SafetyFlag],
        recall: Recall,
        tools_used: list[str],
        source: str,
    ) -> Outcome:
        degraded = model_text is None
        evaluation = evaluator.evaluate_explanation(model_text, basket, profile)
        explanation = model_text if evaluation.use_model_text else template_explanation(basket)
        answer = f"{describe(basket, headcount, budget, profile)} {explanation}"
        if degraded:
            metrics.DEGRADED.labels(source).inc()
            log.warning("degraded answer", extra={"entry_id": entry.entry_id, "error": error})
        metrics.ANSWERS.labels(source).inc()
        all_flags = flags + evaluation.flags
        entry.answer = Answer(text=answer, basket=basket, degraded=degraded, flags=all_flags)
        await asyncio.gather(
            self.memory.append(entry),
            evaluator.report(
                self.settings,
                source=source,
                user_id=entry.user_id,
                session_id=entry.session_id,
                order_id=None,
                flags=all_flags,
                trace_id=entry.trace_id,
                evaluation=evaluation,
                degraded=degraded,
                model=None if degraded else self.settings.llm_model_label,
            ),
        )
        return Outcome(
            answer=answer,
            explanation=explanation,
            basket=basket,
            session_id=entry.session_id,
            entry_id=entry.entry_id,
            memory_used=(["profile"] if profile else []) + recall.used,
            tools_used=tools_used,
            safety_verdict=verdict(all_flags),
            safety_flags=all_flags,
            evaluation=evaluation,
            degraded=degraded,
            blocked=False,
            model=None if degraded else self.settings.llm_model_label,
            llm_ms=llm_ms,
            trace_id=entry.trace_id,
        )

    async def _blocked(
        self,
        user_id: str,
        session_id: str,
        entry_id: str,
        question: str,
        flags: list[SafetyFlag],
        trace_id: str | None,
    ) -> Outcome:
        metrics.BLOCKED.inc()
        reasons = "; ".join(f.detail for f in flags if f.severity == "block")
        answer = f"I can't help with that request: {reasons}."
        entry = MemoryEntry(
            entry_id=entry_id,
            user_id=user_id,
            session_id=session_id,
            question=Question(text=question[:4000]),
            answer=Answer(text=answer, blocked=True, flags=flags),
            trace_id=trace_id,
        )
        await self.memory.append(entry)
        await evaluator.report(
            self.settings,
            source="ask",
            user_id=user_id,
            session_id=session_id,
            order_id=None,
            flags=flags,
            trace_id=trace_id,
        )
        return Outcome(
            answer=answer,
            explanation=reasons,
            basket=None,
            session_id=session_id,
            entry_id=entry_id,
            memory_used=[],
            tools_used=[],
            safety_verdict="block",
            safety_flags=flags,
            evaluation=None,
            degraded=False,
            blocked=True,
            model=None,
            llm_ms=None,
            trace_id=trace_id,
        )

    # ------------------------------------------------------------------------ /recommend
    async def recommend(
        self,
        order_id: str,
        user_id: str,
        request: str,
        headcount: int,
        budget_usd: float,
        candidate_skus: list[str],
        available: dict[str, int] | None = None,
    ) -> dict:
        profile, recall = await asyncio.gather(
            profiles.get(user_id), self.memory.recall(user_id, "orders", request)
        )
        items = catalog.by_sku()
        candidates = [items[s] for s in candidate_skus if s in items]
        if not candidates:  # the catalog branch degraded: search ourselves
            candidates = tools.search_catalog(
                request,
                list(profile.allergies) if profile else [],
                list(profile.diet) if profile else [],
            )
        basket = tools.price_basket(
            candidates, headcount, budget_usd, recall.preferred_skus, available
        )
        result = await llm.converse(
            self.settings,
            " ".join(INSTRUCTIONS),
            explain_prompt(request, basket, headcount, profile, None),
            path="recommend",
        )
        evaluation = evaluator.evaluate_explanation(result.text, basket, profile)
        explanation = result.text if evaluation.use_model_text else template_explanation(basket)
        if not result.ok:
            metrics.DEGRADED.labels("recommend").inc()
        metrics.ANSWERS.labels("recommend").inc()
        await evaluator.report(
            self.settings,
            source="recommend",
            user_id=user_id,
            session_id=None,
            order_id=order_id,
            flags=evaluation.flags,
            trace_id=current_trace_id(),
            evaluation=evaluation,
            degraded=not result.ok,
            model=self.settings.llm_model_label if result.ok else None,
        )
        return {
            "basket": basket.model_dump(mode="json"),
            "explanation": explanation,
            "degraded": not result.ok,
            "flags": [f.model_dump() for f in evaluation.flags if f.severity == "block"],
            "model": self.settings.llm_model_label if result.ok else None,
        }

    # --------------------------------------------------------------- restart durability
    async def _mark_pending(self, entry: MemoryEntry, instance_id: str) -> None:
        def add(value: dict | None) -> dict:
            pending = dict(value or {})
            pending[entry.entry_id] = {
                "instance_id": instance_id,
                "entry": entry.model_dump(mode="json"),
            }
            return pending

        await state.update(PENDING_KEY, add)

    async def _clear_pending(self, entry_id: str) -> None:
        def drop(value: dict | None) -> dict:
            pending = dict(value or {})
            pending.pop(entry_id, None)
            return pending

        await state.update(PENDING_KEY, drop)

    async def recover(self) -> int:
        """At start-up: finish the asks a previous process was answering when it stopped,
        from their durable agent instances (or degraded, if the instance is gone)."""
        pending, _ = await state.get(PENDING_KEY)
        done = 0
        for entry_id, item in (pending or {}).items():
            entry = MemoryEntry.model_validate(item["entry"])
            text = None
            if self.brain is not None:
                for _ in range(int(self.settings.llm_timeout_s)):
                    found = await asyncio.to_thread(self.brain.finished_output, item["instance_id"])
                    if found is None or found[0] in {"COMPLETED", "FAILED", "TERMINATED"}:
                        text = found[1] if found and found[0] == "COMPLETED" else None
                        break
                    await asyncio.sleep(1)
            profile = await profiles.get(entry.user_id)
            recall = await self.memory.recall(entry.user_id, entry.session_id, entry.question.text)
            headcount, budget, basket = self._plan(entry.question.text, profile, recall)
            await self._finish(
                entry,
                basket,
                headcount,
                budget,
                profile,
                text,
                None,
                None if text else "recovered after restart",
                [],
                recall,
                ["search_catalog", "check_allergens", "price_basket"],
                source="ask",
            )
            await self._clear_pending(entry_id)
            done += 1
        return done
