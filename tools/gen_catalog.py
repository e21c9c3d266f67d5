"""Generates the snack catalog shipped in ``snacktopus_core/data/catalog.json``.

Deterministic (fixed seed): rerunning it reproduces the committed file byte for byte, so a
change to the catalog is a reviewed change to this script. Each base product exists in a
few pack sizes from a few vendors, which gives a few hundred realistic SKUs.

    .venv/bin/python tools/gen_catalog.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from snacktopus_core.models import CatalogItem

OUT = (
    Path(__file__).resolve().parent.parent
    / "libs/snacktopus_core/src/snacktopus_core/data/catalog.json"
)

# name, category, allergens, diet tags, kcal/serving, price per serving (USD)
BASE: list[tuple[str, str, list[str], list[str], int, float]] = [
    (
        "Sea Salt Potato Chips",
        "chips",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free"],
        150,
        0.55,
    ),
    (
        "Sour Cream Onion Chips",
        "chips",
        ["milk"],
        ["vegetarian", "gluten_free", "nut_free"],
        160,
        0.6,
    ),
    ("BBQ Kettle Chips", "chips", [], ["vegan", "gluten_free", "nut_free", "dairy_free"], 150, 0.6),
    (
        "Tortilla Chips",
        "chips",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "halal", "kosher"],
        140,
        0.45,
    ),
    ("Veggie Straws", "chips", [], ["vegan", "gluten_free", "nut_free", "dairy_free"], 130, 0.5),
    (
        "Cheddar Crackers",
        "crackers",
        ["wheat", "gluten", "milk"],
        ["vegetarian", "nut_free"],
        140,
        0.5,
    ),
    (
        "Whole Wheat Crackers",
        "crackers",
        ["wheat", "gluten"],
        ["vegan", "nut_free", "dairy_free", "kosher"],
        120,
        0.4,
    ),
    (
        "Rice Crackers",
        "crackers",
        ["soy"],
        ["vegan", "gluten_free", "nut_free", "dairy_free"],
        110,
        0.45,
    ),
    (
        "Seeded Flax Crackers",
        "crackers",
        ["sesame"],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "keto"],
        130,
        0.8,
    ),
    (
        "Pretzel Twists",
        "pretzels",
        ["wheat", "gluten"],
        ["vegan", "nut_free", "dairy_free", "kosher"],
        110,
        0.35,
    ),
    (
        "Gluten-Free Pretzels",
        "pretzels",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free"],
        120,
        0.7,
    ),
    (
        "Honey Roasted Peanuts",
        "nuts",
        ["peanut"],
        ["vegetarian", "gluten_free", "dairy_free"],
        170,
        0.6,
    ),
    (
        "Salted Almonds",
        "nuts",
        ["tree_nut"],
        ["vegan", "gluten_free", "dairy_free", "keto", "low_sugar"],
        170,
        0.9,
    ),
    (
        "Cashew Mix",
        "nuts",
        ["tree_nut", "peanut"],
        ["vegan", "gluten_free", "dairy_free"],
        170,
        1.0,
    ),
    (
        "Pistachios",
        "nuts",
        ["tree_nut"],
        ["vegan", "gluten_free", "dairy_free", "keto", "low_sugar"],
        160,
        1.1,
    ),
    (
        "Pumpkin Seeds",
        "seeds",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "keto", "low_sugar"],
        160,
        0.8,
    ),
    (
        "Sunflower Seeds",
        "seeds",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "low_sugar"],
        160,
        0.5,
    ),
    (
        "Trail Mix",
        "mixes",
        ["peanut", "tree_nut", "milk", "soy"],
        ["vegetarian", "gluten_free"],
        180,
        0.85,
    ),
    (
        "Nut-Free Trail Mix",
        "mixes",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free"],
        170,
        0.9,
    ),
    (
        "Granola Bars",
        "bars",
        ["wheat", "gluten", "tree_nut", "soy"],
        ["vegetarian", "dairy_free"],
        190,
        0.75,
    ),
    ("Oat Bars", "bars", ["wheat", "gluten"], ["vegan", "nut_free", "dairy_free"], 180, 0.7),
    (
        "Protein Bars",
        "bars",
        ["milk", "soy", "peanut"],
        ["vegetarian", "gluten_free", "low_sugar"],
        210,
        1.6,
    ),
    ("Fruit & Nut Bars", "bars", ["tree_nut"], ["vegan", "gluten_free", "dairy_free"], 200, 1.2),
    (
        "Dark Chocolate Squares",
        "chocolate",
        ["soy"],
        ["vegan", "gluten_free", "nut_free", "dairy_free"],
        150,
        0.9,
    ),
    (
        "Milk Chocolate Bars",
        "chocolate",
        ["milk", "soy"],
        ["vegetarian", "gluten_free", "nut_free"],
        220,
        0.8,
    ),
    (
        "Peanut Butter Cups",
        "chocolate",
        ["peanut", "milk", "soy"],
        ["vegetarian", "gluten_free"],
        210,
        0.85,
    ),
    (
        "Chocolate Chip Cookies",
        "cookies",
        ["wheat", "gluten", "milk", "egg", "soy"],
        ["vegetarian", "nut_free"],
        160,
        0.6,
    ),
    (
        "Oatmeal Raisin Cookies",
        "cookies",
        ["wheat", "gluten", "milk", "egg"],
        ["vegetarian", "nut_free"],
        150,
        0.6,
    ),
    (
        "Vegan Ginger Cookies",
        "cookies",
        ["wheat", "gluten"],
        ["vegan", "nut_free", "dairy_free"],
        140,
        0.7,
    ),
    (
        "Gluten-Free Brownie Bites",
        "cookies",
        ["egg", "milk"],
        ["vegetarian", "gluten_free", "nut_free"],
        170,
        1.0,
    ),
    (
        "Sesame Snaps",
        "sweets",
        ["sesame"],
        ["vegan", "gluten_free", "nut_free", "dairy_free"],
        120,
        0.5,
    ),
    ("Gummy Bears", "sweets", [], ["gluten_free", "nut_free", "dairy_free"], 100, 0.4),
    (
        "Vegan Fruit Gummies",
        "sweets",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "halal"],
        90,
        0.5,
    ),
    (
        "Dried Mango",
        "fruit",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "halal", "kosher"],
        110,
        0.9,
    ),
    (
        "Apple Chips",
        "fruit",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "low_sugar"],
        100,
        0.8,
    ),
    (
        "Fresh Apples",
        "fruit",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "halal", "kosher", "low_sugar"],
        95,
        0.6,
    ),
    (
        "Bananas",
        "fruit",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "halal", "kosher"],
        105,
        0.3,
    ),
    (
        "Clementines",
        "fruit",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "halal", "kosher", "low_sugar"],
        40,
        0.45,
    ),
    (
        "Baby Carrots & Hummus",
        "veggies",
        ["sesame"],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "low_sugar"],
        90,
        1.1,
    ),
    (
        "Cucumber Snack Packs",
        "veggies",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "keto", "low_sugar"],
        20,
        0.9,
    ),
    (
        "Roasted Chickpeas",
        "legumes",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "halal"],
        130,
        0.8,
    ),
    (
        "Edamame",
        "legumes",
        ["soy"],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "low_sugar"],
        120,
        0.9,
    ),
    (
        "Seaweed Snacks",
        "savory",
        ["soy", "sesame"],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "keto", "low_sugar"],
        30,
        0.7,
    ),
    (
        "Beef Jerky",
        "savory",
        ["soy", "wheat", "gluten"],
        ["nut_free", "dairy_free", "low_sugar"],
        80,
        1.8,
    ),
    (
        "Turkey Sticks",
        "savory",
        [],
        ["gluten_free", "nut_free", "dairy_free", "keto", "low_sugar"],
        70,
        1.4,
    ),
    (
        "Tuna Snack Kits",
        "savory",
        ["fish", "wheat", "gluten", "egg"],
        ["nut_free", "dairy_free"],
        190,
        2.0,
    ),
    (
        "Shrimp Chips",
        "chips",
        ["shellfish", "wheat", "gluten"],
        ["nut_free", "dairy_free"],
        140,
        0.7,
    ),
    (
        "String Cheese",
        "dairy",
        ["milk"],
        ["vegetarian", "gluten_free", "nut_free", "keto", "low_sugar", "kosher"],
        80,
        0.6,
    ),
    (
        "Greek Yogurt Cups",
        "dairy",
        ["milk"],
        ["vegetarian", "gluten_free", "nut_free", "kosher"],
        120,
        1.1,
    ),
    (
        "Hard-Boiled Eggs",
        "protein",
        ["egg"],
        [
            "vegetarian",
            "gluten_free",
            "nut_free",
            "dairy_free",
            "keto",
            "low_sugar",
            "halal",
            "kosher",
        ],
        70,
        0.7,
    ),
    (
        "Popcorn",
        "popcorn",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "kosher"],
        110,
        0.35,
    ),
    ("Kettle Corn", "popcorn", [], ["vegan", "gluten_free", "nut_free", "dairy_free"], 130, 0.45),
    (
        "White Cheddar Popcorn",
        "popcorn",
        ["milk"],
        ["vegetarian", "gluten_free", "nut_free"],
        150,
        0.5,
    ),
    (
        "Mini Croissants",
        "bakery",
        ["wheat", "gluten", "milk", "egg"],
        ["vegetarian", "nut_free"],
        230,
        1.2,
    ),
    (
        "Bagel Bites",
        "bakery",
        ["wheat", "gluten", "sesame"],
        ["vegan", "nut_free", "dairy_free"],
        200,
        0.9,
    ),
    (
        "Blueberry Muffins",
        "bakery",
        ["wheat", "gluten", "milk", "egg"],
        ["vegetarian", "nut_free"],
        260,
        1.3,
    ),
    (
        "Sparkling Water",
        "drinks",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "halal", "kosher", "keto", "low_sugar"],
        0,
        0.5,
    ),
    (
        "Cold Brew Coffee",
        "drinks",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "keto", "low_sugar"],
        5,
        2.2,
    ),
    (
        "Oat Milk Lattes",
        "drinks",
        ["wheat", "gluten"],
        ["vegan", "nut_free", "dairy_free"],
        120,
        2.5,
    ),
    (
        "Kombucha",
        "drinks",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "low_sugar"],
        50,
        2.8,
    ),
    (
        "Orange Juice",
        "drinks",
        [],
        ["vegan", "gluten_free", "nut_free", "dairy_free", "halal", "kosher"],
        110,
        1.0,
    ),
]

VENDORS = ["CrunchCo", "GreenPantry", "SnackHub", "OfficeEats", "NorthFarm", "BulkBite"]
PACKS = [6, 12, 24, 48]


def build() -> list[CatalogItem]:
    rng = random.Random(20261125)
    items: list[CatalogItem] = []
    for i, (name, category, allergens, diet, kcal, per_serving) in enumerate(BASE):
        vendors = rng.sample(VENDORS, 2)
        for vendor in vendors:
            for pack in rng.sample(PACKS, 3):
                # Bigger packs are cheaper per serving; vendors differ a little.
                discount = {6: 1.0, 12: 0.95, 24: 0.9, 48: 0.85}[pack]
                price = round(per_serving * pack * discount * rng.uniform(0.9, 1.15), 2)
                sku = f"{category[:3].upper()}-{i:03d}-{vendor[:3].upper()}-{pack:02d}"
                items.append(
                    CatalogItem(
                        sku=sku,
                        name=f"{name} ({pack}-pack)",
                        category=category,
                        price_usd=price,
                        pack_size=pack,
                        allergens=sorted(allergens),
                        diet_tags=sorted(diet),
                        vendor=vendor,
                        stock=rng.choice([0, 50, 100, 200, 400, 800, 1500, 3000]),
                        calories_per_serving=kcal,
                        description=f"{name} from {vendor}, {pack} servings.",
                    )
                )
    return items


def main() -> None:
    items = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps([i.model_dump(mode="json") for i in items], indent=1) + "\n")
    print(f"{len(items)} items -> {OUT}")


if __name__ == "__main__":
    main()
