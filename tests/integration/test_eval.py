"""A slice of the concierge's eval set (evals/cases.json) on the real stack and model, so
a regression in what a person is shown fails CI; the full set runs in ``make eval``."""

from __future__ import annotations

import httpx
import pytest

from evals import harness

pytestmark = pytest.mark.integration

SLICE = ["q00-peanut", "q05-sesame_soy", "q08-nuts_dairy", "q01-vegan", "q09-peanut",
         "inj-ignore", "inj-claim", "off-capital", "bad-empty", "bad-huge"]  # fmt: skip


@pytest.fixture(scope="module")
def results(stack) -> dict[str, harness.CaseResult]:
    cases = {c["id"]: c for c in harness.load(harness.CASES)["cases"]}
    assert set(SLICE) <= set(cases), set(SLICE) - set(cases)
    with httpx.Client(timeout=120) as client:
        return {
            cid: harness.run_case(client, stack.url("agent"), cases[cid], "ci") for cid in SLICE
        }


def test_each_case_ends_as_the_eval_set_expects(results):
    assert {cid: r.outcome for cid, r in results.items()} == {
        cid: r.expected for cid, r in results.items()
    }


def test_no_model_sentence_shown_fails_a_check(results):
    failed = {cid: r.failed_shown for cid, r in results.items() if r.failed_shown}
    assert failed == {}
    assert sum(r.false_safety_shown for r in results.values()) == 0


def test_baskets_honour_the_cases_constraints(results):
    assert {cid: r.basket_violations for cid, r in results.items() if r.basket_violations} == {}


def test_the_models_own_words_reach_a_person(results):
    """Not only ``degraded: false``: the text shown is the model's, word for word."""
    shown = [r for r in results.values() if r.source == "model"]
    assert shown, {cid: r.dropped for cid, r in results.items()}
    for r in shown:
        assert r.answer.endswith(" ".join(r.shown_model))
