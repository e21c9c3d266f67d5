"""Sentence-level checks of model-written text against the facts the tools computed.

Shared by agent-shell's evaluator (which drops every sentence that fails) and the
evaluation harness (``evals/``, which measures what reaches a person), so the two judge by
one rule set. Four families of checks, each a named reason:

* grounded: every food word (a lexicon built from the catalog's names, categories and
  allergens plus ``data/food_words.txt``) and every number the sentence names is in the
  basket facts (quantities, prices, totals, servings, headcount, budget, pack sizes);
* safe: no universal safety claim and no claim that an allergen or diet requirement is
  honoured when the basket contradicts it; no allergen the person avoids named as fine;
* well formed: a complete sentence, short, no role or template leakage, no quotes;
* on topic: it speaks of the basket, the food or the person's constraints;
* supported: it claims nothing the tools did not compute (health, availability, rules,
  provenance: ``data/unsupported_words.txt``), and does not deny a constraint the basket
  honours (over budget, "not gluten-free").

Written here rather than taken from an NLP library: the rules are domain rules over a
fixed catalog, deterministic and explainable in a flag, and a sentence model would weigh
more than the checks and decide less predictably.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from snacktopus_core.catalog import ALLERGEN_WORDS, by_sku, load_catalog
from snacktopus_core.models import Allergen, Basket, Diet

MAX_SENTENCES = 2
MAX_SENTENCE_WORDS = 30

# Reasons a sentence fails; "safety" ones become a block flag on the model's text.
SAFETY_REASONS = frozenset({"false_safety", "avoided_allergen"})

# Words too generic to be a claim about the basket's contents.
GENERIC_FOOD = frozenset(
    {"snack", "food", "treat", "bite", "goody", "option", "item", "choice", "mix", "pack"}
)
# Extra surface forms of allergens, beyond catalog.ALLERGEN_WORDS.
ALLERGEN_FORMS: dict[str, frozenset[Allergen]] = {
    **{w: frozenset({a}) for w, a in ALLERGEN_WORDS.items()},
    "nut": frozenset({Allergen.PEANUT, Allergen.TREE_NUT}),
    "tree_nut": frozenset({Allergen.TREE_NUT}),
    "lactose": frozenset({Allergen.MILK}),
    "shrimp": frozenset({Allergen.SHELLFISH}),
    "soya": frozenset({Allergen.SOY}),
}
DIET_FORMS: dict[str, Diet] = {
    "vegan": Diet.VEGAN,
    "vegetarian": Diet.VEGETARIAN,
    "halal": Diet.HALAL,
    "kosher": Diet.KOSHER,
    "keto": Diet.KETO,
    "low-sugar": Diet.LOW_SUGAR,
    "low sugar": Diet.LOW_SUGAR,
    "sugar-free": Diet.LOW_SUGAR,
}
NUMBER_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "dozen": 12, "fifteen": 15,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "hundred": 100,
}  # fmt: skip
ON_TOPIC = frozenset(
    {
        "basket", "snack", "food", "treat", "team", "people", "guest", "everyone",
        "budget", "price", "cost", "total", "serving", "allergy", "allergen", "diet",
        "order", "office", "meeting", "party", "crowd", "group", "colleague", "healthy",
        "variety", "mix", "safe", "option", "choice", "afford", "within", "under",
    }
)  # fmt: skip

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+")
_NUMBER = re.compile(r"(?<![\w.])\$?\s?(\d+(?:[.,]\d+)?)(%?)")
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")
_LEAK = re.compile(
    r"\b(team|basket|request|diet|allergies|total|answer|question|user|assistant|system|"
    r"earlier|instructions?|note)\s*:|<\||\|>|#{2,}|\bim_(start|end)\b|\bone or two sentences\b|"
    r"\btwo (short )?sentences\b|\bas an ai\b|\blanguage model\b|[\"“”]|^\s*[-*•]\s|\n",
    re.I,
)
_UNIVERSAL = re.compile(
    r"\b(safe for (every(one|body)|all|anyone|any ?one)|(completely|totally|perfectly|entirely|"
    r"100%|fully) safe|allergen[- ]free|allergy[- ]free|free (of|from) (all |any )?allergens|"
    r"no allergens|without (any )?allergens|anyone can (eat|enjoy)|every(one|body) can "
    r"(eat|enjoy)|suitable for (every(one|body)|all diets|any diet|all allergies)|"
    r"no (allergy|allergies) (risk|concerns?|issues?))\b",
    re.I,
)
_ALLERGEN_ALT = "|".join(
    sorted(
        {w.replace("_", "[- ]") for w in ALLERGEN_FORMS} | {"allergen", "allerg(?:y|ie)"}, key=len
    )[::-1]
)
_ALLERGEN_LIST = rf"(?:{_ALLERGEN_ALT})s?(?:(?:\s*,\s*|\s+(?:and|or|nor)\s+)(?:{_ALLERGEN_ALT})s?)*"
# "no peanuts", "free of soy and sesame", "without any milk", "peanut-free", "nut free"
_ABSENCE = re.compile(
    r"\b(?:no|zero|without|free (?:of|from)|avoids?|avoiding|excludes?|excluding|skips?|"
    r"(?:does ?n[o']t|do ?n[o']t|not) (?:contain|include|have)|never)\s+(?:any\s+)?"
    rf"({_ALLERGEN_LIST})\b|\b({_ALLERGEN_LIST})[- ]free\b",
    re.I,
)
_LIST_SPLIT = re.compile(r"\s*,\s*|\s+(?:and|or|nor)\s+")


def _word_list(name: str) -> frozenset[str]:
    text = resources.files("snacktopus_core").joinpath(f"data/{name}").read_text()
    return frozenset(
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")
    )


@lru_cache(maxsize=1)
def _general_food_words() -> frozenset[str]:
    return _word_list("food_words.txt")


@lru_cache(maxsize=1)
def unsupported_words() -> frozenset[str]:
    return _word_list("unsupported_words.txt")


def singular(word: str) -> str:
    """A plural's singular, enough for food words ("cookies" -> "cookie", "chips" -> "chip")."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("oes", "ches", "shes", "sses")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us")):
        return word[:-1]
    return word


def _words(text: str) -> list[str]:
    return [singular(w) for part in _WORD.findall(text.lower()) for w in part.split("-")]


@lru_cache(maxsize=1)
def food_lexicon() -> frozenset[str]:
    """Every word that names a food: the general list, the catalog's names and categories
    (their food words), and the allergen words."""
    catalog_words = set()
    for item in load_catalog():
        catalog_words |= {w for w in _words(item.name) if w in _general_food_words()}
        catalog_words.add(singular(item.category))
    allergen_words = {singular(w) for word in ALLERGEN_FORMS for w in _words(word)}
    return frozenset(_general_food_words() | catalog_words | allergen_words) - GENERIC_FOOD


@dataclass(frozen=True)
class Facts:
    """What a sentence may mention: computed from the basket, never from the model."""

    foods: frozenset[str]
    numbers: frozenset[float]
    present: frozenset[Allergen]
    avoided: frozenset[Allergen]
    diets_held: frozenset[Diet]
    constraints: dict[str, tuple[str, ...]] = field(default_factory=dict)
    numbers_people: float = 0.0

    @classmethod
    def of(
        cls,
        basket: Basket,
        *,
        headcount: int,
        budget_usd: float,
        avoided: Iterable[Allergen] = (),
        diets: Iterable[Diet] = (),
    ) -> Facts:
        items = by_sku()
        foods: set[str] = set()
        numbers = {float(headcount), round(budget_usd, 2), round(basket.total_usd, 2)}
        numbers |= {float(basket.servings), float(len(basket.lines))}
        held = set(Diet)
        for ln in basket.lines:
            item = items.get(ln.sku)
            foods |= set(_words(ln.name)) | ({singular(item.category)} if item else set())
            foods |= {singular(w) for a in ln.allergens for w in _words(a.value)}
            numbers |= {float(ln.quantity), ln.unit_price_usd, ln.line_total_usd}
            numbers |= {float(ln.servings), float(item.pack_size) if item else 0.0}
            held &= set(item.diet_tags) if item else set()
        avoided = frozenset(avoided)
        diets = frozenset(diets)
        return cls(
            foods=frozenset(foods),
            numbers=frozenset(round(n, 2) for n in numbers),
            present=frozenset(basket.allergens),
            avoided=avoided,
            diets_held=frozenset(held) if basket.lines else frozenset(),
            constraints=_constraint_phrases(headcount, budget_usd, avoided, diets & held),
            numbers_people=float(headcount),
        )


def _constraint_phrases(
    headcount: int, budget: float, avoided: frozenset[Allergen], diets: frozenset[Diet]
) -> dict[str, tuple[str, ...]]:
    """Ways a sentence names each constraint the basket honours (for "useful")."""
    phrases: dict[str, tuple[str, ...]] = {
        "headcount": (rf"\b{headcount}\b", r"\b(everyone|whole team|each person)\b"),
        "budget": (rf"\${budget:g}\b", rf"\${budget:.2f}", r"\b(budget|under|within|afford)"),
    }
    for a in avoided:
        stem = a.value.split("_")[0]
        phrases[f"avoids {a.value}"] = (rf"{stem}[\w-]*[- ]free", rf"\b(no|without)\b[^.]*{stem}")
    for d in diets:
        words = d.value.replace("_", "[- ]")
        phrases[d.value] = (rf"\b{words}\b",)
    return phrases


@dataclass(frozen=True)
class SentenceCheck:
    text: str
    reasons: tuple[str, ...]
    details: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.reasons


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def _absence_claims(sentence: str) -> tuple[str, set[Allergen]]:
    """The sentence with its absence claims cut out, and the allergens those claims say
    are absent ("no peanuts", "gluten-free")."""
    allergens: set[Allergen] = set()
    for m in _ABSENCE.finditer(sentence):
        for raw in _LIST_SPLIT.split((m.group(1) or m.group(2)).lower()):
            word = singular(raw.replace(" ", "_").replace("-", "_"))
            allergens |= ALLERGEN_FORMS.get(word) or ALLERGEN_FORMS.get(
                word.replace("_", " "), set()
            )
    rest = _ABSENCE.sub(" ", sentence)
    return rest, allergens


def _safety(sentence: str, rest: str, claimed: set[Allergen], facts: Facts) -> list[str]:
    details = []
    # Safe "for everyone" is never known: the catalog lists ten allergens, people have more.
    if m := _UNIVERSAL.search(sentence):
        details.append(f"false_safety: universal safety claim {m.group(0)!r}")
    if wrong := claimed & facts.present:
        details.append(f"false_safety: claims no {', '.join(sorted(a.value for a in wrong))}")
    for word, diet in DIET_FORMS.items():
        if re.search(rf"\b{word}\b", rest, re.I) and diet not in facts.diets_held:
            details.append(f"false_safety: claims {diet.value}, the basket is not all {word}")
    named = {a for w in _words(rest) for a in ALLERGEN_FORMS.get(w, ())}
    if avoided := named & facts.avoided:
        details.append(
            f"avoided_allergen: names {', '.join(sorted(a.value for a in avoided))} as fine"
        )
    return details


# The basket is within budget by construction: a sentence that says otherwise is false.
_OVER_BUDGET = re.compile(
    r"\b(over|above|more than|exceed\w*|beyond|outside|not within|not under)\b[^.]{0,25}?"
    r"\bbudget",
    re.I,
)
# ...and it feeds the headcount by construction: "not enough", "too few" is false too.
_SHORT = re.compile(
    r"(?:\bnot\b|n't\b|\bnever\b)[^.]{0,25}?\benough\b|\btoo (?:few|little)\b", re.I
)
_PEOPLE = re.compile(
    r"\b(\d+|[a-z]+)\s+(?:people|persons?|guests?|colleagues|coworkers|team members|kids)\b", re.I
)
_DENIAL = re.compile(
    r"\b(?:not|isn't|aren't|no longer)\s+(?:an?\s+|all\s+)?([a-z]+(?:[- ]free)?)", re.I
)


# "Free" on its own (not "peanut-free", "free of soy", which are absence claims) is a price.
_GRATIS = re.compile(r"(?<![\w-])free\b(?![- ]?(?:of|from)\b)", re.I)


def _false_claims(sentence: str, rest: str, facts: Facts) -> list[str]:
    details = []
    if _GRATIS.search(rest):
        details.append("false_claim: 'free', the basket has a price")
    if m := _OVER_BUDGET.search(sentence):
        details.append(f"false_claim: {m.group(0)!r}, the basket is within budget")
    if m := _SHORT.search(sentence):
        details.append(f"false_claim: {m.group(0)!r}, the basket feeds the headcount")
    for m in _PEOPLE.finditer(sentence):
        raw = m.group(1).lower()
        n = float(raw) if raw.isdigit() else NUMBER_WORDS.get(raw, 1 if raw == "one" else None)
        if n is not None and n != facts.numbers_people:
            details.append(
                f"false_claim: {m.group(0)!r}, the order is for {facts.numbers_people:g}"
            )
    held = {d.value.replace("_", "-") for d in facts.diets_held} | {
        f"{a.value.split('_')[0]}-free" for a in facts.avoided
    }
    for m in _DENIAL.finditer(sentence):
        word = m.group(1).lower()
        if word.replace(" ", "-") in held:
            details.append(f"false_claim: denies {word}, which the basket is")
    unsupported = sorted({w for w in _words(sentence) if w in unsupported_words()})
    if unsupported:
        details.append(f"unsupported_claim: {', '.join(unsupported[:4])}")
    return details


def _grounding(rest: str, facts: Facts) -> list[str]:
    details = []
    foods = sorted({w for w in _words(rest) if w in food_lexicon()} - facts.foods)
    if foods:
        details.append(f"ungrounded_food: {', '.join(foods[:4])}")
    numbers = []
    for value, pct in _NUMBER.findall(rest):
        n = round(float(value.replace(",", "")), 2)
        if pct or n not in facts.numbers:
            numbers.append(value + pct)
    words = _words(rest)
    numbers += [w for w in words if w in NUMBER_WORDS and NUMBER_WORDS[w] not in facts.numbers]
    if numbers:
        details.append(f"ungrounded_number: {', '.join(numbers[:4])}")
    return details


def _form(sentence: str, last: bool) -> list[str]:
    details = []
    if last and not re.search(r"[.!?][\"')\]]?$", sentence):
        details.append("truncated: no sentence end")
    if m := _LEAK.search(sentence):
        details.append(f"leak: {m.group(0).strip()[:20]!r}")
    if len(sentence.split()) > MAX_SENTENCE_WORDS:
        details.append(f"too_long: {len(sentence.split())} words")
    return details


def check_sentence(sentence: str, facts: Facts, *, last: bool = False) -> SentenceCheck:
    rest, claimed = _absence_claims(sentence)
    details = _form(sentence, last) + _safety(sentence, rest, claimed, facts)
    details += _grounding(rest, facts) + _false_claims(sentence, rest, facts)
    words = set(_words(sentence))
    topical = (
        words & (ON_TOPIC | facts.foods | food_lexicon()) or claimed or _NUMBER.search(sentence)
    )
    if not topical:
        details.append("off_topic: names nothing of the basket or the request")
    return SentenceCheck(
        text=sentence,
        reasons=tuple(dict.fromkeys(d.split(":")[0] for d in details)),
        details=tuple(details),
    )


@dataclass(frozen=True)
class Judgement:
    """A model's text, sentence by sentence: what may be shown and what was dropped."""

    checks: tuple[SentenceCheck, ...]
    kept: tuple[str, ...]
    dropped: tuple[SentenceCheck, ...]

    @property
    def text(self) -> str:
        return " ".join(self.kept)

    @property
    def unsafe(self) -> tuple[SentenceCheck, ...]:
        return tuple(c for c in self.checks if SAFETY_REASONS & set(c.reasons))


def judge(text: str | None, facts: Facts) -> Judgement:
    """Checks each sentence; keeps the first ``MAX_SENTENCES`` that pass, drops the rest
    (a passing sentence past the limit is dropped as ``beyond_limit``)."""
    sentences = split_sentences(text or "")
    checks, kept, dropped = [], [], []
    for i, s in enumerate(sentences):
        check = check_sentence(s, facts, last=i == len(sentences) - 1)
        if check.ok and len(kept) >= MAX_SENTENCES:
            check = SentenceCheck(s, ("beyond_limit",), (f"beyond_limit: {MAX_SENTENCES}",))
        checks.append(check)
        (kept.append(s) if check.ok else dropped.append(check))
    return Judgement(checks=tuple(checks), kept=tuple(kept), dropped=tuple(dropped))


def constraints_named(text: str, facts: Facts) -> list[str]:
    """The constraints the basket honours that ``text`` names ("useful")."""
    return [
        name
        for name, patterns in facts.constraints.items()
        if any(re.search(p, text, re.I) for p in patterns)
    ]
