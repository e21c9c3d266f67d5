"""The server span of a request, as opentelemetry-instrumentation-fastapi makes it through
``web.instrument``: one span per request, named after the route template, the child of the
caller's ``traceparent``, with the route and status tags Zipkin searches by."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from snacktopus_core.web import instrument

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    # The global provider can be set once per process: install it only if nothing has.
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return memory


@pytest.fixture(scope="module")
def client(exporter) -> TestClient:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    def order(order_id: str) -> dict:
        return {"order_id": order_id}

    instrument(app, "span-test")
    return TestClient(app)


def test_one_server_span_per_request_named_by_route_and_child_of_the_caller(client, exporter):
    exporter.clear()
    r = client.get("/orders/o-1", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"})
    assert r.status_code == 200
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["GET /orders/{order_id}"]
    (span,) = spans
    assert span.kind == trace.SpanKind.SERVER
    assert format(span.context.trace_id, "032x") == TRACE
    assert format(span.parent.span_id, "016x") == PARENT
    assert span.attributes["http.route"] == "/orders/{order_id}"
    assert span.attributes["http.status_code"] == 200


def test_an_unanswered_path_is_traced_with_its_status(client, exporter):
    exporter.clear()
    assert client.get("/nowhere").status_code == 404
    (span,) = exporter.get_finished_spans()
    assert span.kind == trace.SpanKind.SERVER
    assert span.attributes["http.status_code"] == 404
