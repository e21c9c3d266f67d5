"""The published OpenAPI documents say what the apps answer: what a schema refuses the app
refuses, what the app answers the document lists (the schemathesis fuzz checks the same
against the real stack, tests/integration/test_zz_fuzz.py). Here, the app objects without a
sidecar: every request below is answered before any route code runs."""

from __future__ import annotations

import importlib
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from snacktopus_core.catalog import by_sku
from snacktopus_core.models import NON_BLANK
from snacktopus_core.web import UNPARSABLE_BODY


def _client(name: str, mp: pytest.MonkeyPatch, allow_faults: bool = False) -> TestClient:
    settings = importlib.import_module(f"{name}.settings")
    mp.setenv("TRACING_ENABLED", "false")  # no Zipkin here
    mp.setenv("ALLOW_FAULT_INJECTION", str(allow_faults).lower())
    settings.get_settings.cache_clear()
    main = importlib.import_module(f"{name}.main")
    client = TestClient(main.create_app())
    client.get("/openapi.json")  # generated once, with these settings, then kept
    return client


@pytest.fixture(scope="module")
def apps() -> Iterator[dict[str, TestClient]]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    with pytest.MonkeyPatch.context() as mp:
        clients = {name: _client(name, mp) for name in ("agent_shell", "workflow_host")}
        clients["workflow_host_faults"] = _client("workflow_host", mp, allow_faults=True)
        yield clients
    for name in ("agent_shell", "workflow_host"):
        importlib.import_module(f"{name}.settings").get_settings.cache_clear()
    root.handlers[:], level = saved  # create_app installs its JSON log handler
    root.setLevel(level)


def _operations(client: TestClient) -> Iterator[tuple[str, str, dict]]:
    for path, item in client.get("/openapi.json").json()["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


@pytest.mark.parametrize("name", ["agent_shell", "workflow_host"])
def test_a_body_that_is_not_text_is_the_documented_400(apps, name):
    client = apps[name]
    with_body = [(m, p, op) for m, p, op in _operations(client) if "requestBody" in op]
    assert len(with_body) >= 3
    for method, path, operation in with_body:
        assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }, (method, path)
        url = path.replace("{user_id}", "u1").replace("{order_id}", "ord-1")
        r = client.request(
            method, url, content=b"{\xc3\x28}", headers={"content-type": "application/json"}
        )
        assert r.status_code == 400, (method, path, r.text)
        assert r.json() == {"detail": "There was an error parsing the body"}
        if (method, path) != ("POST", "/orders"):  # it documents its own 400, this too
            assert operation["responses"]["400"]["description"] == UNPARSABLE_BODY


@pytest.mark.parametrize(
    ("name", "method", "path", "allow"),
    [
        ("workflow_host", "OPTIONS", "/orders", "GET, POST"),
        ("workflow_host", "DELETE", "/orders/ord-1", "GET"),
        ("agent_shell", "DELETE", "/profile/u1", "GET, PATCH, PUT"),
        ("agent_shell", "GET", "/safety", "POST"),
    ],
)
def test_405_names_every_method_of_the_path(apps, name, method, path, allow):
    r = apps[name].request(method, path)
    assert r.status_code == 405
    assert r.headers["allow"] == allow  # Starlette's own said "POST" for /orders


def test_the_fault_injection_field_is_published_only_where_it_is_accepted(apps, monkeypatch):
    def props(client: TestClient) -> dict:
        return client.get("/openapi.json").json()["components"]["schemas"]["OrderCreate"][
            "properties"
        ]

    assert "faults" not in props(apps["workflow_host"])
    assert "faults" in props(apps["workflow_host_faults"])
    order = {"user_id": "u1", "request": "snacks", "budget_usd": 10, "headcount": 2}
    # Outside the schema, even as null: the documented 400, before any Dapr call. (The
    # route reads the process's settings, which the faults-on app above changed.)
    settings = importlib.import_module("workflow_host.settings")
    monkeypatch.setenv("ALLOW_FAULT_INJECTION", "false")
    monkeypatch.setattr(settings, "get_settings", lambda: settings.WorkflowSettings())
    monkeypatch.setattr("workflow_host.api.get_settings", settings.get_settings)
    r = apps["workflow_host"].post("/orders", json={**order, "faults": None})
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "fault injection is disabled (ALLOW_FAULT_INJECTION=false)"}


def test_the_blank_pattern_refuses_exactly_what_strip_leaves_empty():
    # Python's re stands in for the ECMA-262 engines of JSON Schema: the pattern uses only
    # escapes both read alike, and pydantic (Rust regex) refuses what it refuses below.
    pattern = re.compile(NON_BLANK)
    for code in range(0x3100):
        char = chr(code)
        assert (pattern.search(char) is None) == (char.strip() == ""), hex(code)
    assert max(ord(c) for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()) < 0x3100


@pytest.mark.parametrize(
    ("name", "path", "body", "loc"),
    [
        ("agent_shell", "/ask", {"user_id": "u1", "question": " \x1c\u3000"}, "question"),
        (
            "agent_shell",
            "/human/decision",
            {"order_id": "o", "decision": "approve", "approver": "\t"},
            "approver",
        ),
        (
            "agent_shell",
            "/safety",
            {"user_id": "u1", "text": "x", "budget_usd": True},
            "budget_usd",
        ),
        (
            "agent_shell",
            "/safety",
            {"user_id": "u1", "text": "x", "basket": [{"sku": "NOPE-1", "quantity": 1}]},
            "basket",
        ),
        (
            "agent_shell",
            "/safety",
            {"user_id": "u1", "text": "x", "basket": [{"sku": "NOPE-1", "quantity": "2"}]},
            "basket",
        ),
        (
            "workflow_host",
            "/orders",
            {"user_id": "u1", "request": "  ", "budget_usd": 10, "headcount": 2},
            "request",
        ),
        (
            "workflow_host",
            "/orders",
            {"user_id": "u1", "request": "x", "budget_usd": "10", "headcount": 2},
            "budget_usd",
        ),
        ("workflow_host", "/orders/ord-1/cancel", {"requester": "\u2028"}, "requester"),
    ],
)
def test_what_the_schema_refuses_is_refused_with_422(apps, name, path, body, loc):
    r = apps[name].post(path, json=body)
    assert r.status_code == 422, r.text
    assert loc in [e["loc"][1] for e in r.json()["detail"]]


def test_the_schema_lists_the_catalog_skus_and_refuses_others_by_line(apps):
    schemas = apps["agent_shell"].get("/openapi.json").json()["components"]["schemas"]
    assert schemas["BasketItem"]["properties"]["sku"]["enum"] == sorted(by_sku())
    sku = next(iter(by_sku()))
    r = apps["agent_shell"].post(
        "/safety",
        json={
            "user_id": "u1",
            "text": "x",
            "basket": [{"sku": sku, "quantity": 1}, {"sku": "NOPE-1", "quantity": 1.0}],
        },
    )
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "basket", 1, "sku"]
    assert error["msg"] == "Value error, unknown SKU 'NOPE-1': not in the catalog"


def test_a_run_record_written_by_the_workflow_carries_its_offset():
    from workflow_host.runs import RunRecord

    naive = datetime(2026, 12, 1, 5, 12, 30)  # ctx.current_utc_datetime is naive UTC
    record = RunRecord(
        order_id="o1",
        user_id="u1",
        request={
            "order_id": "o1",
            "user_id": "u1",
            "request": "x",
            "budget_usd": 5,
            "headcount": 1,
        },
        started_at=naive,
        updated_at=naive,
    )
    out = record.model_dump(mode="json")
    assert out["started_at"] == out["updated_at"] == "2026-12-01T05:12:30Z"
    assert RunRecord.model_validate(out).started_at == naive.replace(tzinfo=UTC)
