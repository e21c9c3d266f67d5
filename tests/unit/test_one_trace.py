"""One trace per order, however it starts (issue #23, item 8).

An activity whose input has no ``traceparent`` (a start straight through Dapr's workflow
API) continues the span the SDK's worker made current around it, which daprd parents on
the orchestration's span; ``save_run`` reports that trace's id and the workflow adopts it
from its first save's result, without changing the calls it makes (runs in flight replay
unchanged). No stack: a local tracer provider and the fake orchestration context."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from snacktopus_core.models import OrderRequest, Profile
from workflow_host import activities as act
from workflow_host import workflow
from workflow_host.runs import RunRecord

from tests.unit.test_workflow import ANSWERS, ORDER, TRACEPARENT, UP_TO_HOLDS, settings
from tests.unit.workflow_fake import FakeOrchestrationContext, drive

DAPR_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
BARE = {k: v for k, v in ORDER.items() if k != "traceparent"}  # a direct start's input


@pytest.fixture
def spans(monkeypatch):
    """The activities' tracer, recording here; returns the exporter and a tracer that
    stands in for the SDK worker's (its ``activity: <name>`` span)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(act, "tracer", provider.get_tracer("workflow-host"))
    return exporter, provider.get_tracer("durabletask-worker")


def branch_input(traceparent: str | None) -> act.BranchInput:
    order = OrderRequest.model_validate({**BARE, "traceparent": traceparent})
    return act.BranchInput(
        order_id="ord-1", traceparent=traceparent, order=order, profile=Profile(user_id="u1")
    )


def activity_span(exporter: InMemorySpanExporter, name: str):
    (span,) = [s for s in exporter.get_finished_spans() if s.name == name]
    return span


def test_without_a_traceparent_an_activity_continues_the_workers_span(spans):
    exporter, sdk = spans
    with sdk.start_as_current_span("activity: nutrition_and_allergens") as worker:
        act.nutrition_and_allergens(SimpleNamespace(workflow_id="ord-1"), branch_input(None))
    ours = activity_span(exporter, "activity nutrition_and_allergens")
    assert ours.parent is not None and ours.parent.span_id == worker.get_span_context().span_id
    assert ours.context.trace_id == worker.get_span_context().trace_id
    assert ours.attributes["snacktopus.order_id"] == "ord-1"


def test_with_a_traceparent_an_activity_joins_the_orders_trace(spans):
    exporter, sdk = spans
    with sdk.start_as_current_span("activity: nutrition_and_allergens"):
        act.nutrition_and_allergens(SimpleNamespace(workflow_id="ord-1"), branch_input(TRACEPARENT))
    ours = activity_span(exporter, "activity nutrition_and_allergens")
    _, trace_id, span_id, _ = TRACEPARENT.split("-")
    assert format(ours.context.trace_id, "032x") == trace_id
    assert format(ours.parent.span_id, "016x") == span_id


def record(traceparent: str | None, trace_id: str | None) -> dict[str, Any]:
    order = {**BARE, "traceparent": traceparent}
    now = "2026-01-01T12:00:00Z"
    return RunRecord.model_validate(
        {
            "order_id": "ord-1",
            "user_id": "u1",
            "request": order,
            "started_at": now,
            "updated_at": now,
            "trace_id": trace_id,
        }
    ).model_dump(mode="json")


@pytest.fixture
def saved(monkeypatch) -> list[dict[str, Any]]:
    """What ``save_run`` wrote to the store."""
    writes: list[dict[str, Any]] = []
    monkeypatch.setattr(act.store, "save_run", lambda _id, value, *_: writes.append(value))
    return writes


def test_save_run_stamps_a_record_without_a_trace_with_its_own_and_answers_it(spans, saved):
    _, sdk = spans
    with sdk.start_as_current_span("activity: save_run") as worker:
        answer = act.save_run(SimpleNamespace(workflow_id="ord-1"), {"record": record(None, None)})
    trace_id = format(worker.get_span_context().trace_id, "032x")
    assert answer == {"trace_id": trace_id}
    assert saved[-1]["trace_id"] == trace_id


def test_save_run_keeps_the_orders_trace(spans, saved):
    _, sdk = spans
    trace_id = TRACEPARENT.split("-")[1]
    with sdk.start_as_current_span("activity: save_run"):
        answer = act.save_run(
            SimpleNamespace(workflow_id="ord-1"), {"record": record(TRACEPARENT, trace_id)}
        )
    assert answer == {"trace_id": trace_id}
    assert saved[-1]["trace_id"] == trace_id


# ----------------------------------------------------------------------------- workflow
def run(
    monkeypatch, raw: dict[str, Any], save_answer: Any, *, patched: bool = True
) -> FakeOrchestrationContext:
    monkeypatch.setattr(workflow, "get_settings", settings)
    table = {**ANSWERS, "save_run": save_answer}
    ctx = FakeOrchestrationContext(lambda name, _input: table.get(name), patched=patched)
    result = drive(workflow.snacktopus, ctx, raw)
    assert result["status"] == "completed"
    return ctx


COMPLETED = [*UP_TO_HOLDS, "place_order", "finish_run"]


def test_a_direct_start_adopts_the_trace_its_first_save_ran_in(monkeypatch):
    ctx = run(monkeypatch, BARE, {"trace_id": DAPR_TRACE})

    assert ctx.sequence == COMPLETED
    first, *later = ctx.records
    assert first["trace_id"] is None  # save_run stamps this one itself
    assert [r["trace_id"] for r in later] == [DAPR_TRACE] * len(later)
    (event,) = [d for t, d in ctx.published if t == "order.completed"]
    assert event["trace_id"] == DAPR_TRACE
    # Activities still get no traceparent: they continue the orchestration's context.
    assert {i["traceparent"] for i in ctx.inputs("place_order")} == {None}


def test_a_run_whose_first_save_answered_null_replays_as_it_ran(monkeypatch):
    # Started before this change (and before lean-run-v1): history holds ``null`` for
    # every save_run.
    ctx = run(monkeypatch, BARE, None, patched=False)

    assert ctx.sequence == [*UP_TO_HOLDS, "place_order", "save_run", "publish_event"]
    assert {r["trace_id"] for r in ctx.records} == {None}
    (event,) = [d for t, d in ctx.published if t == "order.completed"]
    assert event["trace_id"] is None


def test_an_api_start_keeps_the_trace_of_its_traceparent(monkeypatch):
    ctx = run(
        monkeypatch,
        {"order": ORDER, "approval_threshold_usd": 50, "approval_timeout_s": 300},
        {"trace_id": DAPR_TRACE},
    )

    assert ctx.sequence == COMPLETED
    assert {r["trace_id"] for r in ctx.records} == {TRACEPARENT.split("-")[1]}
