from snacktopus_core.catalog import (
    allergen_conflicts,
    build_basket,
    by_sku,
    diets_in,
    excluded_allergens,
    load_catalog,
    price_basket,
    search,
)
from snacktopus_core.models import Allergen, Diet


def test_catalog_has_a_few_hundred_valid_items_with_unique_skus():
    items = load_catalog()
    assert 200 <= len(items) <= 600
    assert len(by_sku()) == len(items)
    assert {i.vendor for i in items} >= {"CrunchCo", "GreenPantry"}
    assert any(i.stock == 0 for i in items)  # out-of-stock items exist and must be skipped


def test_search_excludes_allergens_and_requires_diet_tags():
    found = search("snacks", exclude_allergens={Allergen.PEANUT}, diets={Diet.VEGAN}, limit=500)
    assert found
    for item in found:
        assert Allergen.PEANUT not in item.allergens
        assert Diet.VEGAN in item.diet_tags
        assert item.stock > 0


def test_wheat_and_gluten_exclude_each_other():
    assert allergen_conflicts([Allergen.WHEAT], {Allergen.GLUTEN}) == {Allergen.GLUTEN}
    assert allergen_conflicts([Allergen.GLUTEN], {Allergen.WHEAT}) == {Allergen.WHEAT}
    assert allergen_conflicts([Allergen.MILK], {Allergen.WHEAT}) == set()


def test_diet_words_and_implied_allergens():
    assert diets_in("Something GLUTEN-FREE and vegan please") == {Diet.GLUTEN_FREE, Diet.VEGAN}
    assert excluded_allergens([Allergen.SESAME], [Diet.GLUTEN_FREE]) == {
        Allergen.SESAME,
        Allergen.GLUTEN,
        Allergen.WHEAT,
    }


def test_basket_stays_within_budget_and_covers_headcount_when_affordable():
    candidates = search("", diets={Diet.GLUTEN_FREE}, limit=100)
    basket = build_basket(candidates, headcount=12, budget_usd=80)
    assert 0 < basket.total_usd <= 80
    assert basket.servings >= 24  # two servings a head
    assert len({line.sku for line in basket.lines}) == len(basket.lines)
    assert round(sum(line.line_total_usd for line in basket.lines), 2) == basket.total_usd


def test_basket_never_exceeds_a_tiny_budget():
    basket = build_basket(search("", limit=100), headcount=50, budget_usd=3)
    assert basket.total_usd <= 3


def test_preferred_skus_come_first():
    candidates = search("chips", limit=100)
    pick = candidates[-1].sku
    basket = build_basket(candidates, headcount=4, budget_usd=100, prefer=[pick])
    assert basket.lines[0].sku == pick


def test_price_basket_uses_catalog_prices():
    sku = load_catalog()[0].sku
    basket = price_basket([(sku, 3)])
    assert basket.total_usd == round(3 * by_sku()[sku].price_usd, 2)


def test_basket_never_asks_for_more_than_is_available():
    candidates = search("", limit=100)
    full = build_basket(candidates, headcount=60, budget_usd=500)
    top = full.lines[0]
    capped = build_basket(
        candidates,
        headcount=60,
        budget_usd=500,
        available={c.sku: (1 if c.sku == top.sku else c.stock) for c in candidates},
    )
    assert {ln.sku: ln.quantity for ln in capped.lines}.get(top.sku, 0) <= 1
    gone = build_basket(candidates, headcount=60, budget_usd=500, available={})
    assert gone.lines == []  # nothing available, nothing ordered


def test_the_committed_catalog_is_what_the_generator_makes_from_its_base_products():
    """catalog.json is reviewed as data, tools/catalog_base.json as its source: the two
    cannot drift apart."""
    import json

    from tools import gen_catalog

    made = gen_catalog.build(json.loads(gen_catalog.BASE.read_text()))
    committed = json.loads(gen_catalog.OUT.read_text())
    assert [i.model_dump(mode="json") for i in made] == committed
