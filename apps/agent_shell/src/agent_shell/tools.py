"""The agent's tools: catalog search, allergen check, basket pricing within a budget.

Plain functions over the shipped catalog, so they are exact and testable. The concierge
pipeline calls them itself (SmolLM2-135M cannot drive tool calls); with a larger model and
``AGENT_MODEL_TOOLS=true`` the DurableAgent is offered the same functions (agent.py).
"""

from __future__ import annotations

import json
import re

from snacktopus_core import catalog
from snacktopus_core.models import Allergen, Basket, CatalogItem, Diet, Profile

_HEADCOUNT = re.compile(
    r"\b(\d{1,5})\s*(?:people|persons|folks|guests|heads|attendees|colleagues|"
    r"team members|of us|devs|engineers|kids|adults)\b"
    r"|\bfor\s+(\d{1,5})\b(?!\s*(?:\$|usd|dollars))"
    r"|\b(?:team|group|party|crew|table) of\s+(\d{1,5})\b",
    re.I,
)
_BUDGET = re.compile(
    r"\$\s?(\d{1,7}(?:\.\d{1,2})?)|\b(\d{1,7}(?:\.\d{1,2})?)\s*(?:usd|dollars|bucks)\b", re.I
)


def parse_request(text: str, default_headcount: int, default_budget: float) -> tuple[int, float]:
    """Headcount and budget named in a request, else the defaults (bounded to sane ranges)."""
    headcount = default_headcount
    if m := _HEADCOUNT.search(text):
        headcount = int(m.group(1) or m.group(2) or m.group(3))
    budget = default_budget
    if m := _BUDGET.search(text):
        budget = float(m.group(1) or m.group(2))
    return max(1, min(headcount, 500)), max(1.0, min(budget, 10_000.0))


def search_catalog(
    query: str, allergies: list[str] | None = None, diets: list[str] | None = None
) -> list[CatalogItem]:
    """Search the snack catalog; items with the given allergens are left out and every
    given diet tag is required. Returns the best in-stock matches, cheapest first."""
    excluded = catalog.excluded_allergens(
        [Allergen(a) for a in allergies or []], [Diet(d) for d in diets or []]
    )
    wanted = {Diet(d) for d in diets or []} | catalog.diets_in(query)
    found = catalog.search(query, exclude_allergens=excluded, diets=wanted, limit=80)
    return found or catalog.search(query, exclude_allergens=excluded, limit=80)


def check_allergens(skus: list[str], profile: Profile) -> dict[str, list[str]]:
    """For each SKU, the allergens in it that this profile avoids (empty when safe)."""
    excluded = catalog.excluded_allergens(profile.allergies, profile.diet)
    items = catalog.by_sku()
    return {
        sku: sorted(catalog.allergen_conflicts(items[sku].allergens, excluded))
        for sku in skus
        if sku in items
    }


def price_basket(
    candidates: list[CatalogItem],
    headcount: int,
    budget_usd: float,
    prefer: list[str],
    available: dict[str, int] | None = None,
) -> Basket:
    """Builds a varied basket: two servings a head, within budget, preferred SKUs first,
    never more units of a SKU than ``available`` (when given) says are left."""
    return catalog.build_basket(
        candidates,
        headcount=headcount,
        budget_usd=budget_usd,
        prefer=prefer,
        available=available,
    )


# ---- the same tools in the shape an LLM tool call needs (JSON in, JSON text out) ----------
def search_snacks(query: str, allergies: str = "", diets: str = "") -> str:
    """Search the snack catalog. allergies and diets are comma-separated lists, e.g.
    allergies="peanut,milk" diets="vegan". Returns up to 10 items as JSON."""
    items = search_catalog(
        query,
        [a.strip() for a in allergies.split(",") if a.strip()],
        [d.strip() for d in diets.split(",") if d.strip()],
    )[:10]
    return json.dumps(
        [
            {"sku": i.sku, "name": i.name, "price_usd": i.price_usd, "allergens": i.allergens}
            for i in items
        ]
    )


def price_snacks(skus: str, headcount: int, budget_usd: float) -> str:
    """Price a basket from comma-separated SKUs for a headcount within a budget (JSON)."""
    items = catalog.by_sku()
    chosen = [items[s.strip()] for s in skus.split(",") if s.strip() in items]
    return price_basket(chosen, headcount, budget_usd, []).model_dump_json()
