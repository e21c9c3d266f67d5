"""agent-shell's evaluator: only grounded sentences are shown, and every drop is a flag
that says why; a false safety claim blocks the model's words, never the basket."""

from __future__ import annotations

from agent_shell import evaluator
from snacktopus_core import grounding
from snacktopus_core.catalog import price_basket
from snacktopus_core.models import Allergen, Profile

SEAWEED = price_basket([("SAV-042-NOR-12", 1)])  # sesame and soy


def evaluate(text: str | None):
    facts = grounding.Facts.of(SEAWEED, headcount=6, budget_usd=30)
    return evaluator.evaluate_explanation(text, SEAWEED, None, facts)


def test_failing_sentences_are_dropped_and_flagged_with_their_reason():
    ev = evaluate("The seaweed snacks feed 6 people. Add a pizza for the team.")
    assert ev.use_model_text and ev.explanation == "The seaweed snacks feed 6 people."
    assert ev.kept == ["The seaweed snacks feed 6 people."]
    assert [d.reasons for d in ev.dropped] == [["ungrounded_food"]]
    (flag,) = ev.flags
    assert (flag.kind, flag.severity, flag.scope) == ("dropped_sentence", "warn", "model_text")
    assert "pizza" in flag.detail and ev.score == 0.5 and not ev.grounded


def test_a_false_safety_claim_is_a_block_flag_on_the_model_text_only():
    ev = evaluate("These seaweed snacks are completely safe for everyone.")
    assert not ev.use_model_text and ev.explanation is None
    assert ev.false_safety_claims == 1
    assert [(f.kind, f.severity, f.scope) for f in ev.flags] == [
        ("false_safety", "block", "model_text")
    ]
    assert evaluator.basket_verdict(ev.flags) == "ok"


def test_basket_flags_stay_on_the_basket():
    profile = Profile(user_id="u1", allergies=[Allergen.SESAME])
    facts = grounding.Facts.of(SEAWEED, headcount=6, budget_usd=30)
    ev = evaluator.evaluate_explanation(None, SEAWEED, profile, facts)
    assert {(f.kind, f.scope) for f in ev.flags} == {("allergen_conflict", "basket")}
    assert evaluator.basket_verdict(ev.flags) == "block"
    assert ev.model_sentences == 0 and ev.score == 0.0 and not ev.use_model_text
