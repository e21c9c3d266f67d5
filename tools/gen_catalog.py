"""Generates the snack catalog shipped in ``snacktopus_core/data/catalog.json`` from the
base products in ``tools/catalog_base.json``.

Deterministic (fixed seed): rerunning it reproduces the committed file byte for byte, so a
change to the catalog is a reviewed change to the base products or to this script. Each
base product exists in a few pack sizes from a few vendors, which gives a few hundred
realistic SKUs.

    .venv/bin/python tools/gen_catalog.py [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from snacktopus_core.models import CatalogItem

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "tools" / "catalog_base.json"
OUT = ROOT / "libs/snacktopus_core/src/snacktopus_core/data/catalog.json"
STOCK_LEVELS = [0, 50, 100, 200, 400, 800, 1500, 3000]


def build(base: dict) -> list[CatalogItem]:
    rng = random.Random(20261125)
    items: list[CatalogItem] = []
    for i, product in enumerate(base["products"]):
        for vendor in rng.sample(base["vendors"], 2):
            for pack in rng.sample(base["packs"], 3):
                items.append(_item(i, product, vendor, pack, base["pack_discount"], rng))
    return items


def _item(
    i: int, p: dict, vendor: str, pack: int, discounts: dict, rng: random.Random
) -> CatalogItem:
    # Vendors differ a little around the pack's price per serving.
    per_pack = p["usd_per_serving"] * pack * discounts[str(pack)]
    return CatalogItem(
        sku=f"{p['category'][:3].upper()}-{i:03d}-{vendor[:3].upper()}-{pack:02d}",
        name=f"{p['name']} ({pack}-pack)",
        category=p["category"],
        price_usd=round(per_pack * rng.uniform(0.9, 1.15), 2),
        pack_size=pack,
        allergens=sorted(p["allergens"]),
        diet_tags=sorted(p["diet_tags"]),
        vendor=vendor,
        stock=rng.choice(STOCK_LEVELS),
        calories_per_serving=p["kcal_per_serving"],
        description=f"{p['name']} from {vendor}, {pack} servings.",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    items = build(json.loads(BASE.read_text()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([i.model_dump(mode="json") for i in items], indent=1) + "\n")
    print(f"{len(items)} items -> {args.out}")


if __name__ == "__main__":
    main()
