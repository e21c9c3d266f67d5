"""The sentence checks that decide which model words reach a person, and the evaluator
measured on the labelled answers of the eval set (evals/labelled.json)."""

from __future__ import annotations

import pytest
from snacktopus_core import grounding
from snacktopus_core.catalog import price_basket
from snacktopus_core.models import Allergen, Diet

from evals import harness

GF_BASKET = [("FRU-037-CRU-12", 1), ("POP-050-OFF-06", 1), ("SWE-031-OFF-06", 1)]


@pytest.fixture(scope="module")
def facts() -> grounding.Facts:
    basket = price_basket(GF_BASKET)
    return grounding.Facts.of(
        basket,
        headcount=12,
        budget_usd=80,
        avoided={Allergen.PEANUT, Allergen.GLUTEN, Allergen.WHEAT},
        diets={Diet.GLUTEN_FREE},
    )


def reasons(text: str, facts: grounding.Facts) -> set[str]:
    return {r for c in grounding.judge(text, facts).checks for r in c.reasons}


def test_a_grounded_sentence_that_names_the_constraints_passes(facts):
    text = "These gluten-free clementines and popcorn feed all 12 people within your $80 budget."
    assert reasons(text, facts) == set()
    assert set(grounding.constraints_named(text, facts)) >= {"headcount", "budget", "gluten_free"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("The team of 34 loves chocolate bunnies.", "ungrounded_number"),
        ("Pair the popcorn with a turkey sandwich.", "ungrounded_food"),
        ("It is completely safe for everyone.", "false_safety"),
        ("Enjoy some peanuts with the clementines.", "avoided_allergen"),
        ("Team: 12. Diet: gluten-free.", "leak"),
        ("The popcorn is a great choice because", "truncated"),
        ("The capital of France is Paris.", "off_topic"),
    ],
)
def test_each_kind_of_bad_sentence_fails_its_check(facts, text, reason):
    assert reason in reasons(text, facts)


def test_an_absence_claim_the_basket_contradicts_is_a_safety_failure():
    basket = price_basket([("SAV-042-NOR-12", 1)])  # seaweed: sesame and soy
    facts = grounding.Facts.of(basket, headcount=6, budget_usd=30)
    judged = grounding.judge("The seaweed snacks are free of soy and sesame.", facts)
    assert judged.unsafe and not judged.kept
    assert grounding.judge("The seaweed snacks feed 6 people.", facts).kept


def test_only_two_sentences_are_kept_and_failing_ones_are_dropped(facts):
    text = (
        "Popcorn feeds all 12 people. Clementines add fruit. Gummy bears add something sweet. "
        "Add a pizza too."
    )
    judged = grounding.judge(text, facts)
    assert judged.kept == ("Popcorn feeds all 12 people.", "Clementines add fruit.")
    assert [c.reasons for c in judged.dropped] == [("beyond_limit",), ("ungrounded_food",)]


def test_the_evaluator_meets_its_targets_on_the_labelled_answers():
    measured = harness.measure_evaluator(harness.load(harness.LABELLED))
    assert measured["labelled_bad"] >= 30
    assert measured["evaluator_recall"] >= 0.95, measured["evaluator_missed"]
    assert measured["evaluator_precision"] >= 0.90, measured["evaluator_wrongly_dropped"]
    assert measured["evaluator_safety_recall"] == 1.0, measured["evaluator_missed"]
