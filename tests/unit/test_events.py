import pytest
from pydantic import ValidationError
from snacktopus_core.events import SCHEMAS, OrderCompensated, SafetyFlag


def test_every_schema_is_versioned():
    for topic, model in SCHEMAS.items():
        schema = model.model_json_schema()
        assert "schema_version" in schema["properties"], topic
        assert schema["properties"]["schema_version"]["const"] == 1, topic


def test_unknown_fields_and_bad_status_are_refused():
    ok = {
        "order_id": "o1",
        "user_id": "u1",
        "status": "rejected",
        "reason": "no",
        "total_usd": 1.0,
        "compensations": ["release_inventory"],
    }
    OrderCompensated.model_validate(ok)
    with pytest.raises(ValidationError):
        OrderCompensated.model_validate({**ok, "status": "completed"})
    with pytest.raises(ValidationError):
        OrderCompensated.model_validate({**ok, "surprise": 1})
    with pytest.raises(ValidationError):
        SafetyFlag.model_validate({"kind": "nope", "severity": "warn", "detail": ""})


def test_exported_json_schemas_match_the_models():
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root))
    from tools.export_schemas import OUT, render

    for name, text in render().items():
        path = OUT / name
        assert path.exists(), f"{path} missing: run tools/export_schemas.py"
        assert path.read_text() == text, f"{path} is stale: run tools/export_schemas.py"
