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
