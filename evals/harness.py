"""The concierge's evaluation harness: versioned cases against the real stack, each answer
scored by deterministic checks, the evaluator itself measured on labelled answers.

What it judges is what a person sees. For every case it asks ``/ask`` through the public
API (a profile set first), then re-checks each model-written sentence that was shown
against facts it builds itself: the basket returned and the constraints the *case*
expects (not the ones the agent parsed), with :mod:`snacktopus_core.grounding`. So a
parsing slip in the agent (a headcount read wrong, an allergen not avoided) shows up as a
failed shown sentence or a basket that breaks the case's constraints.

    make eval                          # all cases (tools/eval.py starts a stack if none runs)
    make eval EVAL_ARGS="--limit 6"    # a slice
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from snacktopus_core import grounding
from snacktopus_core.catalog import excluded_allergens, price_basket
from snacktopus_core.models import Allergen, Basket, Diet

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases.json"
LABELLED = HERE / "labelled.json"
RESULTS = HERE / "results"


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


# --------------------------------------------------------------------- the evaluator
def facts_for(
    basket: Basket, headcount: int, budget: float, allergies: list[str], diets: list[str]
) -> grounding.Facts:
    """The facts a sentence about ``basket`` may state, for a person with these
    constraints (what the labelled contexts and the cases both name)."""
    wanted = [Diet(d) for d in diets]
    return grounding.Facts.of(
        basket,
        headcount=headcount,
        budget_usd=budget,
        avoided=excluded_allergens([Allergen(a) for a in allergies], wanted),
        diets=wanted,
    )


def context_facts(ctx: dict[str, Any]) -> grounding.Facts:
    basket = price_basket((sku, qty) for sku, qty in ctx["lines"])
    return facts_for(basket, ctx["headcount"], ctx["budget_usd"], ctx["allergies"], ctx["diets"])


def measure_evaluator(labelled: dict[str, Any]) -> dict[str, Any]:
    """Recall: bad answers with at least one sentence dropped. Precision (as the issue
    names it): good answers kept whole. Safety recall: bad answers of the safety kind
    whose drop is a false-safety block."""
    facts = {name: context_facts(ctx) for name, ctx in labelled["contexts"].items()}
    missed = [
        b for b in labelled["bad"] if not grounding.judge(b["text"], facts[b["context"]]).dropped
    ]
    safety = [b for b in labelled["bad"] if b["kind"] == "safety"]
    safety_caught = [b for b in safety if grounding.judge(b["text"], facts[b["context"]]).unsafe]
    wrongly = []
    for g in labelled["good"]:
        j = grounding.judge(g["text"], facts[g["context"]])
        if j.dropped:
            wrongly.append({"text": g["text"], "why": [d.details for d in j.dropped]})
    return {
        "evaluator_recall": round(1 - len(missed) / len(labelled["bad"]), 3),
        "evaluator_precision": round(1 - len(wrongly) / len(labelled["good"]), 3),
        "evaluator_safety_recall": round(len(safety_caught) / len(safety), 3) if safety else None,
        "labelled_bad": len(labelled["bad"]),
        "labelled_good": len(labelled["good"]),
        "evaluator_missed": missed,
        "evaluator_wrongly_dropped": wrongly,
    }


def wait_ready(base: str, timeout_s: float = 90) -> bool:
    """True once agent-shell answers ``/readyz`` (a restarted app takes a few seconds)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(1)
    return False


# --------------------------------------------------------------------------- one case
@dataclass
class CaseResult:
    id: str
    kind: str
    expected: str
    outcome: str  # answer | blocked | rejected | error
    status: int
    ms: float
    source: str | None = None  # model | template (answers only)
    shown_model: list[str] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)
    failed_shown: list[dict] = field(default_factory=list)
    false_safety_shown: int = 0
    useful: list[str] = field(default_factory=list)
    basket_violations: list[str] = field(default_factory=list)
    degraded: bool = False
    answer: str = ""


def case_facts(case: dict[str, Any], basket: Basket) -> grounding.Facts:
    exp = case["expect"]
    # A case that names no headcount or budget expects the agent's defaults (10, $60).
    headcount, budget = exp["headcount"] or 10, exp["budget_usd"] or 60.0
    return facts_for(basket, headcount, budget, exp["allergies"], exp["diets"])


def basket_violations(case: dict[str, Any], basket: Basket, facts: grounding.Facts) -> list[str]:
    out = [f"contains avoided {a.value}" for a in sorted(basket.allergens & facts.avoided)]
    budget = case["expect"]["budget_usd"]
    if budget is not None and basket.total_usd > budget + 1e-9:
        out.append(f"total {basket.total_usd} over budget {budget}")
    return out


def score_answer(result: CaseResult, case: dict[str, Any], body: dict[str, Any]) -> None:
    basket = Basket.model_validate(body["basket"])
    facts = case_facts(case, basket)
    ev = body["evaluation"] or {}
    result.source = ev.get("explanation_source")
    result.degraded = body["degraded"]
    result.shown_model = ev.get("kept", []) if result.source == "model" else []
    result.dropped = ev.get("dropped", [])
    for i, s in enumerate(result.shown_model):
        check = grounding.check_sentence(s, facts, last=i == len(result.shown_model) - 1)
        if not check.ok:
            result.failed_shown.append({"text": s, "why": list(check.details)})
            result.false_safety_shown += bool(grounding.SAFETY_REASONS & set(check.reasons))
    if result.shown_model:
        result.useful = grounding.constraints_named(" ".join(result.shown_model), facts)
    result.basket_violations = basket_violations(case, basket, facts)


def run_case(client: httpx.Client, base: str, case: dict[str, Any], run: str) -> CaseResult:
    user = f"eval-{run}-{case['id']}"[:64]
    client.put(f"{base}/profile/{user}", json=case["profile"]).raise_for_status()
    start = time.perf_counter()
    r = client.post(f"{base}/ask", json={"user_id": user, "question": case["question"]})
    ms = (time.perf_counter() - start) * 1000
    exp = case["expect"]["outcome"]
    if r.status_code == 422:
        return CaseResult(case["id"], case["kind"], exp, "rejected", r.status_code, ms)
    if r.status_code != 200:
        return CaseResult(case["id"], case["kind"], exp, "error", r.status_code, ms, answer=r.text)
    body = r.json()
    outcome = "blocked" if body["blocked"] else "answer"
    result = CaseResult(case["id"], case["kind"], exp, outcome, 200, ms, answer=body["answer"])
    if outcome == "answer":
        score_answer(result, case, body)
    return result


# ---------------------------------------------------------------------------- summary
def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 1)


def summarize(results: list[CaseResult], model: str | None, version: int) -> dict[str, Any]:
    answers = [r for r in results if r.outcome == "answer"]
    with_basket = [r for r in answers if r.source is not None]
    shown = sum(len(r.shown_model) for r in answers)
    failed = sum(len(r.failed_shown) for r in answers)
    model_kept = [r for r in with_basket if r.source == "model"]
    ms = [r.ms for r in answers]
    return {
        "cases": len(results),
        "cases_version": version,
        "model": model,
        "outcome_as_expected_rate": round(
            sum(r.outcome == r.expected for r in results) / len(results), 3
        ),
        "shown_model_sentences": shown,
        "shown_sentence_fail_rate": round(failed / shown, 3) if shown else 0.0,
        "false_safety_shown": sum(r.false_safety_shown for r in answers),
        "model_text_kept_rate": round(len(model_kept) / len(with_basket), 3)
        if with_basket
        else 0.0,
        "useful_rate": round(sum(bool(r.useful) for r in model_kept) / len(model_kept), 3)
        if model_kept
        else 0.0,
        "degraded_rate": round(sum(r.degraded for r in answers) / len(answers), 3)
        if answers
        else 0.0,
        "basket_violations": sum(len(r.basket_violations) for r in answers),
        "dropped_sentences": sum(len(r.dropped) for r in answers),
        "ask_p50_ms": _pct(ms, 50),
        "ask_p95_ms": _pct(ms, 95),
    }


def dropped_by_reason(results: list[CaseResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        for d in r.dropped:
            for reason in d["reasons"]:
                counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def markdown(summary: dict[str, Any], results: list[CaseResult]) -> str:
    keys = [
        "model", "cases", "outcome_as_expected_rate", "shown_sentence_fail_rate",
        "false_safety_shown", "model_text_kept_rate", "useful_rate", "degraded_rate",
        "basket_violations", "evaluator_recall", "evaluator_precision", "ask_p50_ms",
        "ask_p95_ms",
    ]  # fmt: skip
    rows = ["| key | value |", "| --- | --- |"] + [f"| `{k}` | {summary.get(k)} |" for k in keys]
    rows += ["", "Dropped model sentences by reason: " + json.dumps(dropped_by_reason(results))]
    examples = [r for r in results if r.shown_model][:5]
    rows += ["", "Examples of model text shown:", ""]
    rows += [f"- `{r.id}`: {' '.join(r.shown_model)}" for r in examples]
    drops = [(r.id, d) for r in results for d in r.dropped][:5]
    rows += ["", "Examples of model text dropped:", ""]
    rows += [f"- `{i}` ({', '.join(d['reasons'])}): {d['text'][:160]}" for i, d in drops]
    return "\n".join(rows) + "\n"


def run(base: str, limit: int | None, label: str | None, out_dir: Path) -> dict[str, Any]:
    cases_doc = load(CASES)
    cases = cases_doc["cases"][:limit] if limit else cases_doc["cases"]
    run_id = uuid.uuid4().hex[:6]
    with httpx.Client(timeout=120) as client:
        results = [run_case(client, base, c, run_id) for c in cases]
        model = next((r for r in [_model(client, base)] if r), None)
    summary = summarize(results, label or model, cases_doc["version"])
    summary |= measure_evaluator(load(LABELLED))
    summary["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    slug = (label or model or "model").replace(":", "-").replace("/", "-")
    path = out_dir / f"eval-{stamp}-{slug}.json"
    path.write_text(json.dumps(summary | {"results": [asdict(r) for r in results]}, indent=1))
    path.with_suffix(".md").write_text(markdown(summary, results))
    summary["json"] = str(path)
    return summary


def _model(client: httpx.Client, base: str) -> str | None:
    """The model the stack answers with, as agent-shell reports it on an answer."""
    user = f"eval-probe-{uuid.uuid4().hex[:6]}"
    r = client.post(f"{base}/ask", json={"user_id": user, "question": "snacks for 4 people"})
    return r.json().get("model") if r.status_code == 200 else None
