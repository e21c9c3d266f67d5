"""Exports the JSON Schema of every event's ``data`` to ``docs/events/<topic>.schema.json``,
so consumers in any language can validate what they receive. A unit test fails when the
committed files drift from the Pydantic models.

    .venv/bin/python tools/export_schemas.py
"""

from __future__ import annotations

import json
from pathlib import Path

from snacktopus_core.events import SCHEMAS

OUT = Path(__file__).resolve().parent.parent / "docs" / "events"


def render() -> dict[str, str]:
    files = {}
    for topic, model in SCHEMAS.items():
        schema = model.model_json_schema(mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://snacktopus.dev/events/{topic}.schema.json"
        schema["description"] = (
            f"data of the CloudEvents published on topic '{topic}' (pub/sub snackpubsub)"
        )
        files[f"{topic}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return files


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
        print(OUT / name)


if __name__ == "__main__":
    main()
