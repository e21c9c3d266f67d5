"""Deterministic safety rules shared by the agent (``/safety``, ``/ask``) and the workflow's
``safety_gate``: one implementation, so the two can never disagree.

Each rule returns :class:`SafetyFlag`s; ``block`` flags stop an answer or an order, ``warn``
flags are reported. The model's opinion is never a rule here, only an extra signal that
callers may add.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from snacktopus_core.catalog import (
    ALLERGEN_WORDS,
    allergen_conflicts,
    by_sku,
    excluded_allergens,
)
from snacktopus_core.events import SafetyFlag
from snacktopus_core.models import Basket, Profile

MAX_QUESTION_CHARS = 1000

INJECTION_PATTERNS = [
    r"ignore (all |any |the )?(previous|prior|above) (instructions|prompts?|rules)",
    r"disregard (all |the )?(previous|prior|above|system)",
    r"\bsystem prompt\b",
    r"you are now\b",
    r"\bact as (an? )?(admin|developer|root|dan)\b",
    r"\bjailbreak\b",
    r"<\|im_start\|>|<\|im_end\|>|\[/?INST\]",
    r"reveal (your|the) (instructions|prompt|secrets?|api key)",
    r"\bapprove (this|the|my) order\b.*\bwithout\b",
]
_INJECTION = re.compile("|".join(INJECTION_PATTERNS), re.I)

PII_PATTERNS = {
    "email address": r"[\w.+-]+@[\w-]+\.[\w.-]+",
    "card number": r"\b(?:\d[ -]?){13,19}\b",
    "phone number": r"(?<!\d)(?:\+?\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}(?!\d)",
    "social security number": r"\b\d{3}-\d{2}-\d{4}\b",
}
_PII = {name: re.compile(p) for name, p in PII_PATTERNS.items()}

FOOD_WORDS = {
    "snack",
    "snacks",
    "food",
    "eat",
    "treat",
    "chips",
    "fruit",
    "drink",
    "drinks",
    "coffee",
    "order",
    "basket",
    "budget",
    "allergy",
    "allergic",
    "allergies",
    "vegan",
    "gluten",
    "healthy",
    "sweet",
    "savory",
    "cookies",
    "nuts",
    "bars",
    "party",
    "team",
    "meeting",
    "people",
    "lunch",
    "breakfast",
    "offsite",
    "recommend",
    "suggest",
    "buy",
    "price",
    "cheap",
    "diet",
    "keto",
    "halal",
    "kosher",
    "vegetarian",
    "popcorn",
    "chocolate",
    "crackers",
    "cheese",
    "juice",
    "water",
    "protein",
    "sugar",
    "calories",
    "menu",
    "hungry",
    "want",
    "need",
    "something",
    "gluten-free",
    "dairy",
    "peanut",
    "peanuts",
    "nut",
    "celiac",
}
_WORDS = re.compile(r"[a-z][a-z-]+")


def check_text(text: str, *, max_chars: int = MAX_QUESTION_CHARS) -> list[SafetyFlag]:
    """Rules on a user's text: injection, personal data, length, topic."""
    flags: list[SafetyFlag] = []
    if m := _INJECTION.search(text):
        flags.append(
            SafetyFlag(
                kind="prompt_injection",
                severity="block",
                detail=f"prompt-injection marker: {m.group(0)[:60]!r}",
            )
        )
    for name, pattern in _PII.items():
        if pattern.search(text):
            flags.append(
                SafetyFlag(
                    kind="personal_data",
                    severity="block",
                    detail=f"looks like a {name}; never send personal data to the agent",
                )
            )
            break
    if len(text) > max_chars:
        flags.append(
            SafetyFlag(kind="too_long", severity="block", detail=f"{len(text)} chars > {max_chars}")
        )
    words = set(_WORDS.findall(text.lower()))
    if words and not words & FOOD_WORDS and not any(w in text.lower() for w in ALLERGEN_WORDS):
        flags.append(
            SafetyFlag(
                kind="off_topic",
                severity="warn",
                detail="the question does not look like it is about snacks or an order",
            )
        )
    return flags


def check_basket(
    basket: Basket,
    profile: Profile | None,
    *,
    budget_usd: float | None = None,
    blocked_skus: Iterable[str] = (),
) -> list[SafetyFlag]:
    """Rules on a basket, all from catalog data (never from the model's text)."""
    flags: list[SafetyFlag] = []
    catalog = by_sku()
    excluded = excluded_allergens(profile.allergies, profile.diet) if profile else set()
    blocked = set(blocked_skus)
    for line in basket.lines:
        item = catalog.get(line.sku)
        if item is None:
            flags.append(
                SafetyFlag(kind="ungrounded", severity="block", detail=f"unknown SKU {line.sku}")
            )
            continue
        if conflict := allergen_conflicts(item.allergens, excluded):
            flags.append(
                SafetyFlag(
                    kind="allergen_conflict",
                    severity="block",
                    detail=f"{item.name} contains {', '.join(sorted(conflict))}",
                )
            )
        if line.sku in blocked:
            flags.append(
                SafetyFlag(kind="blocked_item", severity="block", detail=f"{item.name} is blocked")
            )
        if abs(line.unit_price_usd - item.price_usd) > 0.005:
            flags.append(
                SafetyFlag(
                    kind="ungrounded",
                    severity="block",
                    detail=f"{line.sku} priced {line.unit_price_usd} but catalog says "
                    f"{item.price_usd}",
                )
            )
    total = round(sum(line.line_total_usd for line in basket.lines), 2)
    if abs(total - basket.total_usd) > 0.01:
        flags.append(
            SafetyFlag(
                kind="ungrounded",
                severity="block",
                detail=f"basket total {basket.total_usd} != sum of lines {total}",
            )
        )
    limit = budget_usd if budget_usd is not None else (profile.budget_usd if profile else None)
    if limit is not None and basket.total_usd > limit + 1e-9:
        flags.append(
            SafetyFlag(
                kind="over_budget",
                severity="block",
                detail=f"total ${basket.total_usd:.2f} exceeds budget ${limit:.2f}",
            )
        )
    return flags


def check_answer(answer: str, profile: Profile | None) -> list[SafetyFlag]:
    """An answer that recommends something the user is allergic to gets a warning."""
    if not profile:
        return []
    excluded = excluded_allergens(profile.allergies, profile.diet)
    low = answer.lower()
    named = {a for word, a in ALLERGEN_WORDS.items() if word in low}
    # Saying "no peanuts" is fine; only mentions without a negation nearby are suspicious.
    risky = {
        a
        for a in named & excluded
        if not re.search(
            rf"\b(no|free|without|avoid\w*|excluded?)\b[^.]{{0,30}}{a.value.split('_')[0]}", low
        )
        and not re.search(rf"{a.value.split('_')[0]}[\w-]*[- ]free", low)
    }
    return [
        SafetyFlag(
            kind="allergen_conflict",
            severity="warn",
            detail=f"answer mentions {a.value}, which this user avoids",
        )
        for a in sorted(risky)
    ]


def verdict(flags: Iterable[SafetyFlag]) -> str:
    flags = list(flags)
    if any(f.severity == "block" for f in flags):
        return "block"
    return "warn" if flags else "ok"
