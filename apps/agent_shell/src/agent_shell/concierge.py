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
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from importlib import resources
from typing import Any

from pydantic import BaseModel
from snacktopus_core import catalog, grounding
from snacktopus_core.events import SafetyFlag
from snacktopus_core.models import Basket, Profile
from snacktopus_core.safety import check_basket, check_text, verdict
from snacktopus_core.telemetry import current_trace_id

from agent_shell import evaluator, llm, memory, metrics, pending, profiles, retention, tools
from agent_shell.agent import INSTRUCTIONS, Brain
from agent_shell.gate import Kind, ModelGate
from agent_shell.memory import Answer, Memory, MemoryEntry, Question, Recall
from agent_shell.settings import AgentSettings

log = logging.getLogger("agent_shell.concierge")


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


@dataclass(frozen=True)
class Plan:
    """The tools' part of an answer: the person's constraints, the basket, what it may be
    said to hold (``facts``) and the tools that ran to compute it."""

    question: str
    headcount: int
    budget: float
    basket: Basket
    profile: Profile | None
    recall: Recall
    facts: grounding.Facts
    tools_used: tuple[str, ...]
    asked_diets: frozenset = frozenset()  # the profile's and the question's

    @property
    def memory_used(self) -> list[str]:
        return (["profile"] if self.profile else []) + self.recall.used

    @property
    def avoided(self) -> list[str]:
        return sorted(a.value for a in self.facts.avoided)

    @property
    def diets(self) -> list[str]:
        return sorted(d.value.replace("_", "-") for d in self.wanted_diets)

    @property
    def wanted_diets(self) -> set:
        return set(self.asked_diets) & set(self.facts.diets_held)

    @property
    def kinds(self) -> list[str]:
        """What the basket is, in words: its diets, then "<allergen>-free" for each
        avoided allergen those diets do not already imply ("gluten-free", "peanut-free")."""
        implied = {a.value for d in self.wanted_diets for a in catalog.DIET_EXCLUDES.get(d, ())}
        free = [f"{a.replace('_', ' ')}-free" for a in self.avoided if a not in implied]
        return self.diets + free


@dataclass(frozen=True)
class ModelAnswer:
    """What the model said (``None`` when it failed or timed out) and how long it took."""

    text: str | None
    llm_ms: float | None = None
    error: str | None = None


@dataclass
class AskStart:
    """An ask up to its basket: what a streamed answer sends first. ``outcome`` is set
    when nothing more is to come (a blocked question, answered without the model)."""

    entry: MemoryEntry
    flags: list[SafetyFlag]
    plan: Plan | None = None
    outcome: Outcome | None = None

    @property
    def instance_id(self) -> str:
        return f"ask-{self.entry.entry_id}"

    def safety_flags(self) -> list[SafetyFlag]:
        """The question's flags and the basket's: all that is known before the model."""
        if self.outcome is not None:
            return self.outcome.safety_flags
        plan = self.plan
        assert plan is not None  # an ask not blocked has its plan
        found = check_basket(plan.basket, plan.profile)
        return self.flags + [f.model_copy(update={"scope": "basket"}) for f in found]


def describe(plan: Plan) -> str:
    basket, headcount, budget = plan.basket, plan.headcount, plan.budget
    if not basket.lines:
        return (
            f"I could not fit anything safe for {headcount} within ${budget:.2f}; "
            "try a larger budget or fewer restrictions."
        )
    lines = ", ".join(f"{ln.quantity}x {ln.name} (${ln.line_total_usd:.2f})" for ln in basket.lines)
    text = (
        f"For {headcount} people within ${budget:.2f}: {lines}. "
        f"Total ${basket.total_usd:.2f} for {basket.servings} servings."
    )
    if plan.avoided:
        text += f" Everything avoids {', '.join(a.replace('_', ' ') for a in plan.avoided)}."
    return text


def template_explanation(plan: Plan) -> str:
    """The fallback explanation: true by construction, and it names the constraints the
    basket honours, so even a degraded answer tells the person why it fits."""
    if not plan.basket.lines:
        return "No basket fits the constraints."
    cats = sorted({ln.name.split(" (")[0] for ln in plan.basket.lines})
    fit = f"{', '.join(plan.kinds)} " if plan.kinds else ""
    return (
        f"A {fit}mix of {', '.join(cats)} feeds all {plan.headcount} people "
        f"within the ${plan.budget:.2f} budget."
    )


EXPLAIN_PROMPT = (
    resources.files("agent_shell").joinpath("prompts/explain.txt").read_text().rstrip("\n")
)


def _names(plan: Plan) -> str:
    names = [ln.name.split(" (")[0] for ln in plan.basket.lines][:3]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def explain_prompt(plan: Plan) -> str:
    """Two worked examples, then this basket's facts on one line, ending where the model
    writes: the small models are run as few-shot completers (the Modelfiles' templates
    join the messages as plain text), which ``make eval`` measured to keep the model's
    sentence ~10x more often than an instruction in a chat turn. At most three names and
    two kinds ("vegan", "peanut-free"): each fact is one the sentence may repeat."""
    basket, kinds = plan.basket, plan.kinds
    parts = [f"{plan.headcount} people", _names(plan)] + ([", ".join(kinds[:2])] if kinds else [])
    parts.append(f"total ${basket.total_usd:.2f} of ${plan.budget:.2f}")
    return f"{EXPLAIN_PROMPT.format(facts='; '.join(parts))} {_names(plan)}"


def completed_sentence(plan: Plan, text: str | None) -> str | None:
    """The prompt ends with the sentence's subject, the basket's own names, so the model
    writes the claim about them rather than copying the examples' foods; the sentence
    shown is that subject and what the model wrote after it (the evaluator then checks
    the whole of it, like any model text)."""
    if not text or not text.strip():
        return None
    rest = text.strip()
    return f"{_names(plan)}{'' if rest.startswith((',', '.', ';')) else ' '}{rest}"


class Concierge:
    def __init__(self, settings: AgentSettings, brain: Brain | None) -> None:
        self.settings = settings
        self.brain = brain
        self.memory = Memory(settings, summarize=self._summarize)
        self.gate = ModelGate(
            settings.llm_slots, settings.llm_background_slots, priority=settings.llm_priority
        )
        self._tasks: set[asyncio.Task] = set()

    def _slot(self, kind: Kind) -> AbstractAsyncContextManager[Any]:
        """A model slot (gate.py), waited for at most half of ``LLM_TIMEOUT_S``: a call
        started later would likely be given up on mid-answer while daprd and Ollama still
        finish it, for nobody, and the calls behind it wait; under overload that turned
        nearly every answer into a timeout (test plan, Appendix C). Such a caller degrades
        at once instead."""
        return self.gate.admit(kind, wait_s=self.settings.llm_timeout_s / 2)

    def _busy(self) -> str:
        return f"model busy: no slot within {self.settings.llm_timeout_s / 2:g} s"

    def spawn(self, work: Coroutine[Any, Any, Outcome]) -> asyncio.Task[Outcome]:
        """Runs ``work`` to its end even if whoever awaits it leaves (a streamed answer
        whose reader disconnected is still remembered)."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _summarize(self, entries: list[MemoryEntry], previous: str | None) -> str | None:
        text = memory.extractive_summary(entries, previous)
        try:
            async with self._slot("interactive"):  # on an ask's way to its answer
                result = await llm.converse(
                    self.settings,
                    "Summarize this snack-order history in at most three short lines.",
                    text[-2000:],
                    path="summarize",
                )
        except TimeoutError:
            return None
        # The model's summary is kept only beside the extractive facts, never instead.
        return f"{text}\n(summary: {result.text[:300]})" if result.ok and result.text else None

    def _budget(self, profile: Profile | None) -> float:
        if profile and profile.budget_usd:
            return profile.budget_usd
        return self.settings.default_budget_usd

    def _plan(
        self,
        question: str,
        profile: Profile | None,
        recall: Recall,
        *,
        budget: float | None = None,
        headcount: int | None = None,
        candidates: list | None = None,
        available: dict[str, int] | None = None,
    ) -> Plan:
        """The tools' part of an answer, shared by a fresh ask, one recovered after a
        restart and ``/recommend``, so all compute the same basket. ``tools_used`` lists
        the tools as they ran."""
        ran: list[str] = []
        if headcount is None or budget is None:
            headcount, budget = tools.parse_request(
                question, self.settings.default_headcount, self._budget(profile)
            )
            ran.append("parse_request")
        allergies = list(profile.allergies) if profile else []
        diets = list(profile.diet) if profile else []
        if not candidates:
            candidates = tools.search_catalog(question, allergies, diets)
            ran.append("search_catalog")
        basket = tools.price_basket(candidates, headcount, budget, recall.preferred_skus, available)
        ran.append("price_basket")
        if profile:
            conflicts = tools.check_allergens(basket.skus, profile)
            ran.append("check_allergens")
            if any(conflicts.values()):  # search excludes them: reaching here is a bug
                raise RuntimeError(f"allergen filter let through {conflicts}")
        asked = set(diets) | catalog.diets_in(question)
        facts = grounding.Facts.of(
            basket,
            headcount=headcount,
            budget_usd=budget,
            avoided=catalog.excluded_allergens(profile.allergies if profile else [], asked),
            diets=asked,
        )
        return Plan(
            question,
            headcount,
            budget,
            basket,
            profile,
            recall,
            facts,
            tuple(ran),
            frozenset(asked),
        )

    # ------------------------------------------------------------------------------ /ask
    async def ask(self, user_id: str, session_id: str | None, question: str) -> Outcome:
        return await self.complete_ask(await self.begin_ask(user_id, session_id, question))

    async def begin_ask(self, user_id: str, session_id: str | None, question: str) -> AskStart:
        """An ask up to its basket (no model yet). A failure here is the request's
        error; from here on :meth:`complete_ask` finishes it."""
        session_id = session_id or f"s-{uuid.uuid4().hex[:12]}"
        entry = MemoryEntry(
            entry_id=uuid.uuid4().hex[:16],
            user_id=user_id,
            session_id=session_id,
            question=Question(text=question),
            trace_id=current_trace_id(),
        )
        flags = check_text(question)
        if verdict(flags) == "block":
            outcome = await self._blocked(entry, flags)
            return AskStart(entry, outcome.safety_flags, outcome=outcome)
        start = AskStart(entry, [f.model_copy(update={"scope": "request"}) for f in flags])
        # Independent reads and the pending mark, together: each is a sidecar round trip.
        # A failure before the model runs unmarks the ask, so a restart does not answer it.
        try:
            profile, recall, _ = await asyncio.gather(
                profiles.get(user_id),
                self.memory.recall(user_id, session_id, question),
                self._mark_pending(entry, start.instance_id),
            )
            start.plan = self._plan(question, profile, recall)
        except Exception:
            await self._clear_pending(entry.entry_id)
            raise
        return start

    async def complete_ask(self, start: AskStart) -> Outcome:
        """The model's explanation, checked, and the exchange remembered."""
        if start.outcome is not None:
            return start.outcome
        plan = start.plan
        assert plan is not None
        # An empty basket has nothing to explain: the template says so, no model needed.
        answer = ModelAnswer(None, None, "no agent" if plan.basket.lines else None)
        if self.brain is not None and plan.basket.lines:
            answer = await self._ask_model(plan, start.instance_id)
        entry_id = start.entry.entry_id
        return await self._finish(
            start.entry,
            plan,
            answer,
            start.flags,
            source="ask",
            then=lambda: self._clear_pending(entry_id),
        )

    async def _ask_model(self, plan: Plan, instance_id: str) -> ModelAnswer:
        assert self.brain is not None
        try:
            async with self._slot("interactive"):
                text, llm_ms, error = await self.brain.explain(explain_prompt(plan), instance_id)
        except TimeoutError:
            return ModelAnswer(None, None, self._busy())
        return ModelAnswer(completed_sentence(plan, text), llm_ms, error)

    def _explain(self, plan: Plan, answer: ModelAnswer, source: str) -> evaluator.Evaluation:
        evaluation = evaluator.evaluate_explanation(
            answer.text, plan.basket, plan.profile, plan.facts, answer.error
        )
        if answer.text is None and answer.error is not None:
            metrics.DEGRADED.labels(source).inc()
            log.warning("degraded answer", extra={"path": source, "error": answer.error})
        metrics.FALSE_SAFETY.labels(source).inc(evaluation.false_safety_claims)
        shown = "model" if evaluation.use_model_text else "template"
        metrics.EXPLANATIONS.labels(source, shown).inc()
        metrics.ANSWERS.labels(source).inc()
        if not evaluation.use_model_text:
            evaluation.explanation = template_explanation(plan)
        return evaluation

    async def _finish(
        self,
        entry: MemoryEntry,
        plan: Plan,
        answer: ModelAnswer,
        flags: list[SafetyFlag],
        source: str,
        then: Callable[[], Awaitable[None]] | None = None,
    ) -> Outcome:
        """Records the answer in memory, then runs ``then`` (the ask's clearing: only once
        the answer is kept), alongside the evaluation's events."""
        degraded = answer.text is None and answer.error is not None
        evaluation = self._explain(plan, answer, source)
        explanation = evaluation.explanation or ""
        text = f"{describe(plan)} {explanation}"
        all_flags = flags + evaluation.flags
        entry.answer = Answer(text=text, basket=plan.basket, degraded=degraded, flags=all_flags)
        model = None if degraded else self.settings.llm_model_label

        async def record() -> None:
            # The retention index with the answer, before the pending mark is cleared: a
            # crash in between leaves the ask pending, and its finisher indexes it again.
            await asyncio.gather(
                self.memory.append(entry), retention.record(entry.entry_id, self.settings)
            )
            if then is not None:
                await then()

        await asyncio.gather(
            record(),
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
                model=model,
            ),
        )
        return Outcome(
            answer=text,
            explanation=explanation,
            basket=plan.basket,
            session_id=entry.session_id,
            entry_id=entry.entry_id,
            memory_used=plan.memory_used,
            tools_used=list(plan.tools_used),
            safety_verdict=evaluator.basket_verdict(all_flags),
            safety_flags=all_flags,
            evaluation=evaluation,
            degraded=degraded,
            blocked=False,
            model=model,
            llm_ms=answer.llm_ms,
            trace_id=entry.trace_id,
        )

    async def _blocked(self, entry: MemoryEntry, flags: list[SafetyFlag]) -> Outcome:
        metrics.BLOCKED.inc()
        flags = [f.model_copy(update={"scope": "request"}) for f in flags]
        reasons = "; ".join(f.detail for f in flags if f.severity == "block")
        answer = f"I can't help with that request: {reasons}."
        entry.answer = Answer(text=answer, blocked=True, flags=flags)
        await self.memory.append(entry)
        await evaluator.report(
            self.settings,
            source="ask",
            user_id=entry.user_id,
            session_id=entry.session_id,
            order_id=None,
            flags=flags,
            trace_id=entry.trace_id,
        )
        return Outcome(
            answer=answer,
            explanation=reasons,
            basket=None,
            session_id=entry.session_id,
            entry_id=entry.entry_id,
            memory_used=[],
            tools_used=[],
            safety_verdict="block",
            safety_flags=flags,
            evaluation=None,
            degraded=False,
            blocked=True,
            model=None,
            llm_ms=None,
            trace_id=entry.trace_id,
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
        # An empty list means the catalog branch degraded: the plan searches itself.
        candidates = [items[s] for s in candidate_skus if s in items]
        plan = self._plan(
            request,
            profile,
            Recall(preferred_skus=recall.preferred_skus),
            budget=budget_usd,
            headcount=headcount,
            candidates=candidates,
            available=available,
        )
        result = await self._recommend_model(plan)
        text = completed_sentence(plan, result.text)
        evaluation = self._explain(plan, ModelAnswer(text, error=result.error), "recommend")
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
        # Only flags on the basket reach the workflow's safety gate: a false claim in the
        # model's words was dropped here and must not block an order the tools got right.
        gate = [f for f in evaluator.basket_flags(evaluation.flags) if f.severity == "block"]
        return {
            "basket": plan.basket.model_dump(mode="json"),
            "explanation": evaluation.explanation,
            "degraded": not result.ok,
            "flags": [f.model_dump() for f in gate],
            "model": self.settings.llm_model_label if result.ok else None,
        }

    async def _recommend_model(self, plan: Plan) -> llm.LLMResult:
        """The model's sentence for an order: after any person's ask (gate.py)."""
        try:
            async with self._slot("background"):
                return await llm.converse(
                    self.settings, " ".join(INSTRUCTIONS), explain_prompt(plan), path="recommend"
                )
        except TimeoutError:
            return llm.LLMResult(text=None, ok=False, latency_ms=0.0, error=self._busy())

    # --------------------------------------------------------------- restart durability
    async def _mark_pending(self, entry: MemoryEntry, instance_id: str) -> None:
        await pending.shared(self.settings).mark(
            entry.entry_id, instance_id, entry.model_dump(mode="json")
        )

    async def _clear_pending(self, entry_id: str) -> None:
        await pending.shared(self.settings).clear(entry_id)

    async def recover(self) -> None:
        """For the app's lifetime: finish the asks whose replica stopped answering them
        (this process's previous incarnation, or another replica), from their durable agent
        instances (degraded if the instance is gone). pending.py decides which asks are
        whose: a live owner's ask is never taken over."""

        async def finish(item: dict) -> None:
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
            plan = self._plan(entry.question.text, profile, recall)
            text = completed_sentence(plan, text)
            answer = ModelAnswer(text, None, None if text else "recovered from a stopped replica")
            await self._finish(entry, plan, answer, [], source="ask")

        await pending.shared(self.settings).recover(finish)
