"""The snack catalog shipped with Snacktopus (``data/catalog.json``) and pure functions over
it: search, allergen checks and basket building. Deterministic, no I/O after load, so the
agent's tools, the workflow's activities and the unit tests all get the same answers.

Basket building is a small greedy knapsack written here rather than taken from a library:
the constraints (servings for a headcount, a budget, allergens, diets, stock, variety) are
domain rules, and a solver dependency would weigh more than these forty lines.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from snacktopus_core.models import Allergen, Basket, BasketLine, CatalogItem, Diet, Id

# Allergens implied by a diet the user follows (a gluten-free eater must not get wheat).
DIET_EXCLUDES: dict[Diet, set[Allergen]] = {
    Diet.GLUTEN_FREE: {Allergen.GLUTEN, Allergen.WHEAT},
    Diet.DAIRY_FREE: {Allergen.MILK},
    Diet.NUT_FREE: {Allergen.PEANUT, Allergen.TREE_NUT},
    Diet.VEGAN: {Allergen.MILK, Allergen.EGG, Allergen.FISH, Allergen.SHELLFISH},
    Diet.VEGETARIAN: {Allergen.FISH, Allergen.SHELLFISH},
}
# Words in a request that name a diet, so "gluten-free snacks" filters like a profile does.
DIET_WORDS: dict[str, Diet] = {
    "gluten-free": Diet.GLUTEN_FREE,
    "gluten free": Diet.GLUTEN_FREE,
    "celiac": Diet.GLUTEN_FREE,
    "vegan": Diet.VEGAN,
    "vegetarian": Diet.VEGETARIAN,
    "dairy-free": Diet.DAIRY_FREE,
    "dairy free": Diet.DAIRY_FREE,
    "lactose": Diet.DAIRY_FREE,
    "nut-free": Diet.NUT_FREE,
    "nut free": Diet.NUT_FREE,
    "halal": Diet.HALAL,
    "kosher": Diet.KOSHER,
    "keto": Diet.KETO,
    "low sugar": Diet.LOW_SUGAR,
    "low-sugar": Diet.LOW_SUGAR,
    "healthy": Diet.LOW_SUGAR,
}
ALLERGEN_WORDS: dict[str, Allergen] = {
    "peanut": Allergen.PEANUT,
    "tree nut": Allergen.TREE_NUT,
    "almond": Allergen.TREE_NUT,
    "cashew": Allergen.TREE_NUT,
    "walnut": Allergen.TREE_NUT,
    "milk": Allergen.MILK,
    "dairy": Allergen.MILK,
    "cheese": Allergen.MILK,
    "egg": Allergen.EGG,
    "soy": Allergen.SOY,
    "wheat": Allergen.WHEAT,
    "gluten": Allergen.GLUTEN,
    "sesame": Allergen.SESAME,
    "fish": Allergen.FISH,
    "tuna": Allergen.FISH,
    "shellfish": Allergen.SHELLFISH,
    "shrimp": Allergen.SHELLFISH,
}
_WORD = re.compile(r"[a-z]+")


@lru_cache(maxsize=1)
def load_catalog() -> tuple[CatalogItem, ...]:
    raw = resources.files("snacktopus_core").joinpath("data/catalog.json").read_text()
    return tuple(CatalogItem.model_validate(item) for item in json.loads(raw))


@lru_cache(maxsize=1)
def by_sku() -> dict[str, CatalogItem]:
    return {item.sku: item for item in load_catalog()}


def _known_sku(sku: str) -> str:
    if sku not in by_sku():
        raise ValueError(f"unknown SKU {sku!r}: not in the catalog")
    return sku


def _sku_enum(schema: dict[str, Any]) -> None:
    schema["enum"] = sorted(by_sku())


Sku = Annotated[Id, AfterValidator(_known_sku), Field(json_schema_extra=_sku_enum)]
"""A SKU of the catalog: the published schema lists them (``enum``), so a client knows
which ones a request may name, and any other is refused with a 422 naming it."""


def diets_in(text: str) -> set[Diet]:
    low = text.lower()
    return {diet for word, diet in DIET_WORDS.items() if word in low}


def excluded_allergens(allergies: Iterable[Allergen], diets: Iterable[Diet]) -> set[Allergen]:
    out = set(allergies)
    for diet in diets:
        out |= DIET_EXCLUDES.get(diet, set())
    return out


def allergen_conflicts(
    item_allergens: Iterable[Allergen], excluded: set[Allergen]
) -> set[Allergen]:
    found = set(item_allergens) & excluded
    # Wheat implies gluten and the reverse, whichever of the two the profile names.
    if {Allergen.WHEAT, Allergen.GLUTEN} & excluded and {Allergen.WHEAT, Allergen.GLUTEN} & set(
        item_allergens
    ):
        found |= {Allergen.WHEAT, Allergen.GLUTEN} & (set(item_allergens) | excluded) & excluded
    return found


def search(
    query: str = "",
    *,
    exclude_allergens: Iterable[Allergen] = (),
    diets: Iterable[Diet] = (),
    in_stock_only: bool = True,
    limit: int = 20,
) -> list[CatalogItem]:
    """Items matching the query words, without the excluded allergens, carrying every diet
    tag asked for; best matches first, then cheapest per serving."""
    excluded = set(exclude_allergens)
    wanted = set(diets)
    words = {w for w in _WORD.findall(query.lower()) if len(w) > 2}
    scored: list[tuple[int, float, str, CatalogItem]] = []
    for item in load_catalog():
        if in_stock_only and item.stock == 0:
            continue
        if allergen_conflicts(item.allergens, excluded):
            continue
        if not wanted <= set(item.diet_tags):
            continue
        hay = f"{item.name} {item.category} {' '.join(item.diet_tags)}".lower()
        score = sum(1 for w in words if w in hay)
        scored.append((-score, item.price_per_serving, item.sku, item))
    scored.sort(key=lambda t: t[:3])
    return [t[3] for t in scored[:limit]]


def build_basket(
    candidates: list[CatalogItem],
    *,
    headcount: int,
    budget_usd: float,
    servings_per_person: int = 2,
    max_lines: int = 5,
    prefer: Iterable[str] = (),
    available: dict[str, int] | None = None,
) -> Basket:
    """Enough servings for the headcount, within budget, varied across categories.

    Greedy: one line per category (categories in order of their best candidate: preferred
    SKUs first, then the caller's order, which for search results is relevance); each line
    covers its share of the servings with the cheapest pack size of that category, trimmed
    to stay within budget. The total never
    exceeds the budget; it may fall short of the servings goal when the budget is too small.
    ``available`` (units per SKU not yet held by other orders) caps quantities; without it
    the catalog's stock does.
    """
    need = headcount * servings_per_person
    preferred = set(prefer)

    def units(item: CatalogItem) -> int:
        return item.stock if available is None else min(item.stock, available.get(item.sku, 0))

    # Keep the caller's order (search relevance) but put remembered favourites first: the
    # sort is stable. (Keying on candidates.index(c) compared whole models, O(n^2): 4 ms of
    # every /ask and /recommend for 80 candidates.)
    ordered = sorted(candidates, key=lambda c: c.sku not in preferred)
    by_category: dict[str, list[CatalogItem]] = {}
    for item in ordered:
        if units(item) > 0:
            by_category.setdefault(item.category, []).append(item)
    n_lines = min(max_lines, len(by_category), max(1, math.ceil(need / 8)))
    lines: list[BasketLine] = []
    total = 0.0
    servings = 0
    for idx, options in enumerate(list(by_category.values())[:n_lines]):
        remaining = need - servings
        if remaining <= 0:
            break
        share = math.ceil(remaining / (n_lines - idx))

        def cost(item: CatalogItem, share: int = share) -> tuple[bool, float, str]:
            qty = min(math.ceil(share / item.pack_size), units(item))
            return (item.sku not in preferred, qty * item.price_usd, item.sku)

        item = min(options, key=cost)
        qty = min(math.ceil(share / item.pack_size), units(item))
        while qty > 0 and total + qty * item.price_usd > budget_usd + 1e-9:
            qty -= 1
        if qty == 0:
            continue
        line_total = round(qty * item.price_usd, 2)
        lines.append(
            BasketLine(
                sku=item.sku,
                name=item.name,
                quantity=qty,
                unit_price_usd=item.price_usd,
                line_total_usd=line_total,
                servings=qty * item.pack_size,
                allergens=item.allergens,
                vendor=item.vendor,
            )
        )
        total = round(total + line_total, 2)
        servings += qty * item.pack_size
    return Basket(lines=lines, total_usd=total, servings=servings)


def price_basket(lines: Iterable[tuple[str, int]]) -> Basket:
    """Prices (sku, quantity) pairs from the catalog; unknown SKUs raise KeyError."""
    catalog = by_sku()
    out: list[BasketLine] = []
    for sku, qty in lines:
        item = catalog[sku]
        out.append(
            BasketLine(
                sku=sku,
                name=item.name,
                quantity=qty,
                unit_price_usd=item.price_usd,
                line_total_usd=round(qty * item.price_usd, 2),
                servings=qty * item.pack_size,
                allergens=item.allergens,
                vendor=item.vendor,
            )
        )
    return Basket(
        lines=out,
        total_usd=round(sum(line.line_total_usd for line in out), 2),
        servings=sum(line.servings for line in out),
    )
