"""The activities of the ``snacktopus`` workflow: all I/O happens here, never in the
workflow function. Each is idempotent, keyed by order id and step, so a replay or a retry
never doubles a side effect; each takes a validated Pydantic input and runs in a span that
joins the order's trace, one trace per order however it starts:

- Through ``POST /orders``: the API puts the request's ``traceparent`` into the workflow
  input and every activity input carries it; the activity's span is its child.
- Straight through Dapr's workflow API (a bare order, no ``traceparent``): the activity's
  span continues the context the SDK's worker made current around it, its ``activity:
  <name>`` span, a child of daprd's ``activity||<name>`` span, whose parent is the
  orchestration's span. daprd keeps that span's trace context in the instance's history
  (``ExecutionStarted``, its span id pinned across replays), so every activity of the run,
  retries and runs resumed after a crash included, lands in the one trace daprd started
  with the instance (``create_orchestration||snacktopus``). Nothing in the orchestrator
  creates spans or reads the context; ``save_run`` reports the trace id it ran in, so the
  run record and the order's events name that trace (:func:`save_run`).

Before this, an input without ``traceparent`` made each activity span a root of its own
trace: a direct start was split across a dozen traces.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import dapr.ext.workflow as wf
import httpx
from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field
from snacktopus_core import catalog, sidecar
from snacktopus_core.events import SCHEMAS, SafetyFlag
from snacktopus_core.models import Basket, OrderRequest, Profile
from snacktopus_core.safety import check_basket, check_text, verdict
from snacktopus_core.state import Conflict, retry_on_conflict
from snacktopus_core.telemetry import context_from_traceparent, current_trace_id

from workflow_host import metrics, stock, store
from workflow_host.runs import TERMINAL, RunRecord
from workflow_host.settings import get_settings

log = logging.getLogger("workflow_host.activities")
tracer = trace.get_tracer("workflow-host")


class FaultInjected(RuntimeError):
    """Raised where an order's input asked for a fault (tests and drills only)."""


# Activity inputs. Their keys and key order are the JSON on the wire, which must not change
# within a workflow version: history keeps the inputs of runs in flight, and during a rollout
# workers of the previous release run activities the new one scheduled (and the reverse).
# ``fail`` (fault injection) exists only where the workflow has always sent it.
class StepInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: str
    traceparent: str | None = None


class OrderStepInput(StepInput):
    order: OrderRequest
    profile: Profile


class BranchInput(OrderStepInput):
    """An enrichment branch."""

    fail: bool = Field(default=False, description="Fault injection: this step must fail.")


class CatalogResult(BaseModel):
    candidates: list[str] = []
    available: dict[str, int] = {}


class AllergenResult(BaseModel):
    excluded_allergens: list[str] = []
    diets: list[str] = []
    avoid_words: list[str] = []


class RecommendInput(OrderStepInput):
    candidates: list[str] = []
    available: dict[str, int] = {}
    excluded_allergens: list[str] = []
    discount_pct: float = 0.0
    degraded_branches: list[str] = []


class RecommendResult(BaseModel):
    basket: Basket
    explanation: str
    degraded: bool = False
    flags: list[SafetyFlag] = []
    model: str | None = None


class SafetyInput(OrderStepInput):
    basket: Basket
    agent_flags: list[SafetyFlag] = []


class SafetyResult(BaseModel):
    verdict: Literal["ok", "warn", "block"]
    flags: list[SafetyFlag]


class BasketInput(StepInput):
    basket: Basket
    vendor_etas: dict[str, int] = {}


class SaveRunInput(BaseModel):
    record: RunRecord

    @property
    def order_id(self) -> str:
        return self.record.order_id

    @property
    def traceparent(self) -> str | None:
        return self.record.request.traceparent


class PublishInput(BaseModel):
    topic: str
    data: dict[str, Any]
    traceparent: str | None = None

    @property
    def order_id(self) -> str | None:
        return self.data.get("order_id")


def activity(step: str, *, compensation: str | None = None):
    """Wraps an activity: runs it in a span tagged with the order and step, records its
    latency, and raises on injected faults. Its input arrives as the model the activity
    declares: the SDK converts the JSON to the model annotated on the wrapper."""

    def deco(fn: Callable[[Any], Any]):
        model = fn.__annotations__["data"]
        if isinstance(model, str):
            model = globals()[model]

        @functools.wraps(fn)
        def run(ctx: wf.WorkflowActivityContext, data: BaseModel) -> Any:
            if not isinstance(data, model):  # called directly rather than by the SDK
                data = model.model_validate(data)
            # The order's trace from the input, else the orchestration's (module docstring).
            tp = getattr(data, "traceparent", None)
            parent = context_from_traceparent(tp) if tp else None
            start = time.perf_counter()
            outcome = "ok"
            name = f"compensate {step}" if compensation else f"activity {step}"
            with tracer.start_as_current_span(name, context=parent) as span:
                span.set_attribute("snacktopus.step", step)
                if order_id := getattr(data, "order_id", None):
                    span.set_attribute("snacktopus.order_id", order_id)
                if compensation:
                    span.set_attribute("snacktopus.compensation", f"{step}: {compensation}")
                span.set_attribute("dapr.workflow.instance_id", ctx.workflow_id)
                try:
                    if getattr(data, "fail", False):
                        raise FaultInjected(f"fault injected into {step} for {order_id}")
                    result = fn(data)
                    span.set_attribute("snacktopus.outcome", "ok")
                    return (
                        result.model_dump(mode="json") if isinstance(result, BaseModel) else result
                    )
                except Exception as exc:
                    outcome = "failed"
                    span.set_attribute("snacktopus.outcome", "failed")
                    span.record_exception(exc)
                    span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)[:200]))
                    log.warning("activity failed", extra={"step": step, "error": str(exc)})
                    raise
                finally:
                    metrics.STEP_SECONDS.labels(step, outcome).observe(time.perf_counter() - start)

        # The SDK reads the signature to decide what to pass: __wrapped__ would make it see
        # fn's one-argument signature instead of (ctx, data), and the annotation of ``data``
        # is the model it converts the input to (wraps copied fn's, as unresolved strings).
        del run.__wrapped__
        run.__annotations__ = {"ctx": wf.WorkflowActivityContext, "data": model, "return": Any}
        return run

    return deco


# ----------------------------------------------------------------------------- helpers
def _invoke(method: str, path: str, traceparent: str | None, **kwargs: Any) -> httpx.Response:
    """Service invocation of agent-shell through our own sidecar (never directly)."""
    s = get_settings()
    headers = {"traceparent": traceparent} if traceparent else {}
    return sidecar.sync_client(s).request(
        method,
        f"/v1.0/invoke/{s.agent_app_id}/method/{path}",
        headers=headers,
        timeout=s.recommend_timeout_s,
        **kwargs,
    )


def _now() -> str:
    return datetime.now(UTC).isoformat()


# ----------------------------------------------------------------------------- steps
class ProfileInput(StepInput):
    user_id: str


@activity("load_profile")
def load_profile(data: ProfileInput) -> Profile:
    r = _invoke("GET", f"profile/{data.user_id}", data.traceparent)
    if r.status_code == 404:
        return Profile(user_id=data.user_id)
    r.raise_for_status()
    return Profile.model_validate(r.json())


@activity("catalog_lookup")
def catalog_lookup(data: BranchInput) -> CatalogResult:
    excluded = catalog.excluded_allergens(data.profile.allergies, data.profile.diet)
    diets = catalog.diets_in(data.order.request) | set(data.profile.diet)
    found = catalog.search(data.order.request, exclude_allergens=excluded, diets=diets, limit=80)
    if not found:  # a diet nobody stocks: fall back to the allergen filter alone
        found = catalog.search(data.order.request, exclude_allergens=excluded, limit=80)
    held = stock.taken([i.sku for i in found])
    available = {i.sku: i.stock - held.get(i.sku, 0) for i in found}
    return CatalogResult(
        candidates=[sku for sku, units in available.items() if units > 0],
        available={sku: units for sku, units in available.items() if units > 0},
    )


@activity("nutrition_and_allergens")
def nutrition_and_allergens(data: BranchInput) -> AllergenResult:
    excluded = catalog.excluded_allergens(data.profile.allergies, data.profile.diet)
    words = {w for w, a in catalog.ALLERGEN_WORDS.items() if a in excluded}
    return AllergenResult(
        excluded_allergens=sorted(excluded),
        diets=sorted(catalog.diets_in(data.order.request) | set(data.profile.diet)),
        avoid_words=sorted(words),
    )


@activity("price_quote")
def price_quote(data: BranchInput) -> dict[str, Any]:
    """Side effect: holds a volume-discount quote for this order (undo: release_quote)."""
    pct = 10.0 if data.order.headcount >= 50 else 5.0 if data.order.headcount >= 20 else 0.0
    quote = {
        "order_id": data.order_id,
        "discount_pct": pct,
        "status": "held",
        "valid_until": (datetime.now(UTC) + timedelta(hours=24)).isoformat(),
        "held_at": _now(),
    }
    return store.state().create_or_get(f"quote:{data.order_id}", quote)[0]


@activity("vendor_eta")
def vendor_eta(data: BranchInput) -> dict[str, int]:
    vendors = sorted({i.vendor for i in catalog.load_catalog()})
    # A stable per-vendor, per-day figure (minutes): vendors publish ETAs, we model them.
    day = datetime.now(UTC).strftime("%Y%m%d")
    return {v: 30 + int(hashlib.sha256(f"{v}{day}".encode()).hexdigest(), 16) % 90 for v in vendors}


@activity("recommend")
def recommend(data: RecommendInput) -> RecommendResult:
    body = {
        "order_id": data.order_id,
        "user_id": data.order.user_id,
        "request": data.order.request,
        "headcount": data.order.headcount,
        "budget_usd": data.order.budget_usd,
        "candidate_skus": data.candidates,
        "available": data.available,
    }
    r = _invoke("POST", "recommend", data.traceparent, json=body)
    if r.status_code >= 400:
        raise RuntimeError(f"agent-shell /recommend answered {r.status_code}: {r.text[:300]}")
    result = RecommendResult.model_validate(r.json())
    trace.get_current_span().set_attribute(
        "snacktopus.degraded", bool(result.degraded or data.degraded_branches)
    )
    return result


@activity("safety_gate")
def safety_gate(data: SafetyInput) -> SafetyResult:
    s = get_settings()
    flags = check_basket(
        data.basket, data.profile, budget_usd=data.order.budget_usd, blocked_skus=s.blocked_skus
    )
    flags += [f for f in check_text(data.order.request) if f.severity == "block"]
    flags += data.agent_flags
    if not data.basket.lines:
        flags.append(SafetyFlag(kind="ungrounded", severity="block", detail="empty basket"))
    result = SafetyResult(verdict=verdict(flags), flags=flags)
    span = trace.get_current_span()
    for f in flags:
        metrics.SAFETY_FLAGS.labels(f.kind, f.severity).inc()
    if flags:
        span.set_attribute("snacktopus.safety.flag", ",".join(sorted({f.kind for f in flags})))
    return result


@activity("reserve_inventory")
def reserve_inventory(data: BasketInput) -> dict[str, Any]:
    """Side effect: holds stock for every line (undo: release_inventory). Atomic over all
    lines. When a SKU no longer has the units, it holds nothing and says so in its result
    (``status: out_of_stock``) rather than raising: an answer, not a fault, so the
    workflow's store retries (~24 s) are not spent on it."""
    return retry_on_conflict(lambda: _reserve(data), f"reserve_inventory {data.order_id}")


def _reserve(data: BasketInput) -> dict[str, Any]:
    """One attempt of :func:`reserve_inventory`: the units first (:mod:`stock`, which may
    apply partly and completes on a retry), then the reservation record, with the ETag of
    the ``new`` record this attempt read or created."""
    state = store.state()
    key = f"reservation:{data.order_id}"
    existing, res_etag = state.get(key)
    if existing and existing.get("status") != "new":
        return existing
    if res_etag is None:
        if not state.create(key, {"order_id": data.order_id, "status": "new"}):
            raise Conflict(f"{key}: created by a concurrent attempt")  # start over
        _, res_etag = state.get(key)
    lines = {line.sku: line.quantity for line in data.basket.lines}
    items = catalog.by_sku()
    if short := stock.hold(data.order_id, lines, {sku: items[sku].stock for sku in lines}):
        return {"order_id": data.order_id, "status": "out_of_stock", "detail": short}
    reservation = {
        "order_id": data.order_id,
        "status": "held",
        "lines": lines,
        "ledger": "stock",
        "held_at": _now(),
    }
    state.put(key, reservation, res_etag)
    return reservation


def _release_reservation(order_id: str, final_status: str) -> dict[str, Any]:
    """Ends a held reservation as ``released`` (units back) or ``committed`` (units
    sold): the stock ledger first, then the record, so a retry finishes what a fault
    interrupted."""
    state = store.state()
    key = f"reservation:{order_id}"

    def attempt() -> dict[str, Any]:
        reservation, res_etag = state.get(key)
        if not reservation or reservation.get("status") != "held":
            return reservation or {"order_id": order_id, "status": "none"}
        # Without the mark: held by a release before the ledger (module stock).
        legacy = reservation.get("ledger") != "stock"
        end = stock.release if final_status == "released" else stock.sell
        end(order_id, reservation["lines"], legacy=legacy)
        reservation = {**reservation, "status": final_status, f"{final_status}_at": _now()}
        state.put(key, reservation, res_etag)
        return reservation

    return retry_on_conflict(attempt, f"release {order_id}")


class UndoInput(StepInput):
    reason: str
    fail: bool = Field(default=False, description="Fault injection: this step must fail.")


@activity("release_inventory", compensation="undo reserve_inventory")
def release_inventory(data: UndoInput) -> dict[str, Any]:
    return _release_reservation(data.order_id, "released")


@activity("hold_delivery_slot")
def hold_delivery_slot(data: BasketInput) -> dict[str, Any]:
    """Side effect: books a delivery slot with the slowest vendor's ETA (undo: release)."""
    vendors = sorted({line.vendor for line in data.basket.lines})
    eta = max((data.vendor_etas.get(v, 120) for v in vendors), default=120)
    slot = {
        "order_id": data.order_id,
        "status": "held",
        "vendors": vendors,
        "eta_minutes": eta,
        "held_at": _now(),
    }
    return store.state().create_or_get(f"slot:{data.order_id}", slot)[0]


def _release(key: str) -> dict[str, Any]:
    def apply(value: dict[str, Any] | None) -> dict[str, Any]:
        if not value or value.get("status") != "held":
            return value or {"status": "none"}
        return {**value, "status": "released", "released_at": _now()}

    current, _ = store.state().get(key)
    if not current or current.get("status") != "held":
        return current or {"status": "none"}
    return store.state().update(key, apply)


@activity("release_delivery_slot", compensation="undo hold_delivery_slot")
def release_delivery_slot(data: UndoInput) -> dict[str, Any]:
    return _release(f"slot:{data.order_id}")


@activity("release_quote", compensation="undo price_quote")
def release_quote(data: UndoInput) -> dict[str, Any]:
    return _release(f"quote:{data.order_id}")


class PlaceInput(StepInput):
    user_id: str
    basket: Basket
    approver: str | None = None


@activity("place_order")
def place_order(data: PlaceInput) -> dict[str, Any]:
    """Writes the order to the ledger once (create-only: a duplicate cannot overwrite the
    first entry, and gets it back), then commits the reservation. The commit also runs
    when the entry was already there: a retry after a crash between the two finishes it
    (it used to return early and leave the stock held)."""
    entry, _ = store.state().create_or_get(
        f"ledger:{data.order_id}",
        {
            "order_id": data.order_id,
            "user_id": data.user_id,
            "lines": {line.sku: line.quantity for line in data.basket.lines},
            "total_usd": data.basket.total_usd,
            "approver": data.approver,
            "placed_at": _now(),
        },
    )
    _release_reservation(data.order_id, "committed")  # a no-op once committed
    return entry


class SaveRunResult(BaseModel):
    """What ``save_run`` answers (it answered ``null`` before; histories keep both)."""

    trace_id: str | None = Field(
        default=None, description="The trace the run is in: the record's, else this span's."
    )


@activity("save_run")
def save_run(data: SaveRunInput) -> SaveRunResult:
    """Saves the run record. A record without a trace id (a start straight through Dapr's
    workflow API) is stamped with the trace this activity runs in, the orchestration's, and
    the id is returned: the workflow adopts it from its first save's result, which history
    keeps, so a replay reads the same id (no clock, no span, no new activity call in the
    orchestrator). A later save stamps the same trace too, so a run that was in flight
    before this (its first save answered ``null``) still gets it from its next save."""
    return _save(data.record)


def _save(record: RunRecord) -> SaveRunResult:
    if record.trace_id is None:
        record = record.model_copy(update={"trace_id": current_trace_id()})
    span = trace.get_current_span()
    span.set_attribute("snacktopus.status", record.status)
    span.set_attribute("snacktopus.phase", record.phase)
    span.set_attribute("snacktopus.degraded", ",".join(record.degraded_branches) or "false")
    stored = record.model_dump(mode="json")
    # The index keeps the record's own text of the time, so the two read alike.
    store.save_run(record.order_id, stored, record.status, stored["updated_at"], TERMINAL)
    if record.terminal:
        _count_ended(record)
    return SaveRunResult(trace_id=record.trace_id)


def _count_ended(record: RunRecord) -> None:
    metrics.RUNS.labels(record.status).inc()
    if record.finished_at:
        metrics.RUN_SECONDS.labels(record.status).observe(
            (record.finished_at - record.started_at).total_seconds()
        )
    for branch in record.degraded_branches:
        metrics.DEGRADED.labels(branch).inc()
    approval = record.approval
    if approval.required and approval.decision:
        metrics.APPROVALS.labels(approval.decision).inc()
        if approval.wait_s is not None:
            metrics.APPROVAL_WAIT.labels(approval.decision).observe(approval.wait_s)
    for step in record.compensations:
        metrics.COMPENSATIONS.labels(step, record.status).inc()


class FinishInput(SaveRunInput):
    """The end of a run on the ``lean-run-v1`` path: its last record and the events that
    announce it, in the order they go out."""

    events: list[PublishInput] = Field(min_length=1, max_length=3)


@activity("finish_run")
def finish_run(data: FinishInput) -> SaveRunResult:
    """Saves the last record, then publishes the run's events: one activity, so the end of
    a run is one orchestration turn rather than one per write (``save_run``, then a
    ``publish_event`` each). The record goes first, so a reader told by an event finds it.
    A retry saves the same record again (last write wins) and publishes again; each event
    keeps its ``event_id`` (``<order>:<what>``), by which consumers tell a repeat."""
    saved = _save(data.record)
    for event in data.events:
        _publish(event)
    return saved


@activity("publish_event")
def publish_event(data: PublishInput) -> None:
    _publish(data)


def _publish(data: PublishInput) -> None:
    event = SCHEMAS[data.topic].model_validate(data.data)  # never publish an invalid event
    metadata = (("traceparent", data.traceparent),) if data.traceparent else None
    sidecar.dapr_client().publish_event(
        pubsub_name=get_settings().pubsub_name,
        topic_name=data.topic,
        data=event.model_dump_json(),
        data_content_type="application/json",
        metadata=metadata,
    )
