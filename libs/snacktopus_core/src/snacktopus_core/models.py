"""Domain models shared by both apps: catalog, profiles, baskets, orders.

Every boundary (HTTP bodies, activity inputs and outputs, state values, events) is one of
these Pydantic models, so a value is validated where it enters and nowhere else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    field_validator,
)

# The characters ``str.strip()`` removes, spelled out: JSON Schema (ECMA-262), Python and
# pydantic's Rust engine each read ``\s`` differently, these escapes alike.
_STRIPPED = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NON_BLANK = rf"[^{_STRIPPED}]"
"""A pattern for text fields that strip whitespace and need something left: it puts in
the published schema what ``min_length=1`` after stripping refuses (``"  "``)."""

Id = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
]
ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True, pattern=NON_BLANK)
]


def _whole_float_to_int(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# JSON numbers as JSON Schema reads them. Bodies are validated in pydantic's Python mode,
# whose lax rules take ``true`` and ``"12"`` for numbers: a schema saying ``number`` or
# ``integer`` must refuse those. ``3.0`` is an integer in JSON Schema, so it stays one.
Number = Annotated[float, Field(strict=True)]
Integer = Annotated[int, BeforeValidator(_whole_float_to_int), Field(strict=True)]
Money = Annotated[Number, Field(ge=0, le=100_000)]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, PlainSerializer(_utc, when_used="json")]
"""A time that may be naive (the workflow's ``ctx.current_utc_datetime`` is naive UTC) but
is always written with its offset, as the ``date-time`` format of the schema requires."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class Allergen(StrEnum):
    PEANUT = "peanut"
    TREE_NUT = "tree_nut"
    MILK = "milk"
    EGG = "egg"
    SOY = "soy"
    WHEAT = "wheat"
    GLUTEN = "gluten"
    SESAME = "sesame"
    FISH = "fish"
    SHELLFISH = "shellfish"


class Diet(StrEnum):
    VEGAN = "vegan"
    VEGETARIAN = "vegetarian"
    GLUTEN_FREE = "gluten_free"
    DAIRY_FREE = "dairy_free"
    NUT_FREE = "nut_free"
    HALAL = "halal"
    KOSHER = "kosher"
    KETO = "keto"
    LOW_SUGAR = "low_sugar"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CatalogItem(Strict):
    sku: Id
    name: ShortText
    category: ShortText
    price_usd: Money = Field(gt=0)
    pack_size: int = Field(ge=1, le=500, description="Servings per pack.")
    allergens: list[Allergen] = []
    diet_tags: list[Diet] = []
    vendor: ShortText
    stock: int = Field(ge=0)
    calories_per_serving: int = Field(ge=0, le=2000)
    description: str = Field(default="", max_length=300)

    @property
    def price_per_serving(self) -> float:
        return self.price_usd / self.pack_size


class Profile(Strict):
    user_id: Id
    display_name: str | None = Field(default=None, max_length=80)
    allergies: list[Allergen] = Field(default=[], max_length=len(Allergen))
    diet: list[Diet] = Field(default=[], max_length=len(Diet))
    budget_usd: Money | None = Field(default=None, description="Default budget per order.")
    likes: list[ShortText] = Field(default=[], max_length=20)
    dislikes: list[ShortText] = Field(default=[], max_length=20)
    updated_at: datetime = Field(default_factory=utcnow)

    @field_validator("allergies", "diet", "likes", "dislikes")
    @classmethod
    def _dedupe(cls, value: list) -> list:
        return list(dict.fromkeys(value))


class BasketLine(Strict):
    sku: Id
    name: ShortText
    quantity: int = Field(ge=1, le=1000)
    unit_price_usd: Money
    line_total_usd: Money
    servings: int = Field(ge=0)
    allergens: list[Allergen] = []
    vendor: ShortText


class Basket(Strict):
    lines: list[BasketLine] = Field(default=[], max_length=50)
    total_usd: Money = 0.0
    servings: int = 0

    @property
    def skus(self) -> list[str]:
        return [line.sku for line in self.lines]

    @property
    def allergens(self) -> set[Allergen]:
        return {a for line in self.lines for a in line.allergens}


class OrderRequest(Strict):
    """The input of one ``snacktopus`` workflow run."""

    order_id: Id
    user_id: Id
    request: str = Field(min_length=1, max_length=2000)
    budget_usd: Money = Field(gt=0, le=10_000)
    headcount: int = Field(ge=1, le=500)
    traceparent: str | None = Field(default=None, max_length=55)
