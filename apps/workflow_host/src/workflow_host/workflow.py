"""The ``snacktopus`` workflow: one order from request to ledger, or back out.

Deterministic by construction: no I/O, clocks or randomness here; time comes from
``ctx.current_utc_datetime``, everything else from activities. Steps (DESIGN.md):

1. load_profile
2. fan-out/fan-in enrichment (catalog_lookup, nutrition_and_allergens, price_quote,
   vendor_eta), each with a retry policy; a branch that still fails degrades the run
3. recommend (agent-shell through Dapr service invocation)
4. safety_gate: unsafe -> compensate, ``blocked``
5. reserve_inventory, hold_delivery_slot (side effects)
6. above the threshold: humanApproval event raced against a timer
   reject -> ``rejected``, timeout -> ``timed_out`` (both compensate)
7. place_order
8. the run record is saved at each phase; the terminal event is published
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import dapr.ext.workflow as wf
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from snacktopus_core.events import (
    TOPIC_ORDER_ALERT,
    TOPIC_ORDER_COMPENSATED,
    TOPIC_ORDER_COMPLETED,
    OrderAlert,
    OrderCompensated,
    OrderCompleted,
)
from snacktopus_core.models import Basket, OrderRequest, Profile

from workflow_host import activities as act
from workflow_host.compensation import compensate
from workflow_host.runs import Approval, ApprovalDecision, RunRecord, StepTiming
from workflow_host.settings import BRANCHES, UNDO_STEPS, WorkflowSettings, get_settings

WORKFLOW_NAME = "snacktopus"
APPROVAL_EVENT = "humanApproval"


class Faults(BaseModel):
    """Fault injection for tests and drills; refused unless ALLOW_FAULT_INJECTION is on."""

    model_config = ConfigDict(extra="forbid")

    fail_branches: list[str] = Field(default=[], max_length=len(BRANCHES))
    fail_undo: list[str] = Field(default=[], max_length=3)


class WorkflowInput(BaseModel):
    """Everything a run decides by, captured when it starts, so a replay after a restart
    with other settings still takes the same path."""

    model_config = ConfigDict(extra="forbid")

    order: OrderRequest
    approval_threshold_usd: float = Field(ge=0)
    approval_timeout_s: float = Field(gt=0, le=7 * 24 * 3600)
    disabled_undo: list[str] = []
    faults: Faults = Faults()

    @classmethod
    def from_order(
        cls, order: OrderRequest, settings: WorkflowSettings, faults: Faults | None = None
    ) -> WorkflowInput:
        return cls(
            order=order,
            approval_threshold_usd=settings.approval_threshold_usd,
            approval_timeout_s=settings.approval_timeout_s,
            disabled_undo=[u for u in UNDO_STEPS if not settings.compensation_enabled(u)],
            faults=faults or Faults(),
        )

    @classmethod
    def parse(cls, raw: dict[str, Any], settings: WorkflowSettings) -> WorkflowInput:
        """The API's full input, or a bare order (a start through the Dapr workflow HTTP
        API), which takes today's settings; like ``POST /orders``, a bare order may carry
        its own ``approval_timeout_s``."""
        if "order" in raw:
            return cls.model_validate(raw)
        fields = dict(raw)
        timeout = fields.pop("approval_timeout_s", None)
        inp = cls.from_order(OrderRequest.model_validate(fields), settings)
        if timeout is None:
            return inp
        return cls.model_validate({**inp.model_dump(), "approval_timeout_s": timeout})


def branch_retry(settings: WorkflowSettings) -> wf.RetryPolicy:
    return wf.RetryPolicy(
        first_retry_interval=timedelta(milliseconds=200),
        max_number_of_attempts=settings.branch_max_attempts,
        backoff_coefficient=2.0,
        max_retry_interval=timedelta(seconds=2),
    )


def store_retry(settings: WorkflowSettings) -> wf.RetryPolicy:
    """For steps that write orders (all idempotent): 0.25, 0.5, 1, 2, then 4 s between
    attempts (~24 s with the default 10), so a store restart delays the order instead of
    failing it. The sidecar's own retries on ``orderstate`` are kept short
    (components/resiliency.yaml): durable retries belong here, where a retry re-reads the
    ETags a conflicting transaction needs."""
    return wf.RetryPolicy(
        first_retry_interval=timedelta(milliseconds=250),
        max_number_of_attempts=settings.store_max_attempts,
        backoff_coefficient=2.0,
        max_retry_interval=timedelta(seconds=4),
    )


def invoke_retry(settings: WorkflowSettings) -> wf.RetryPolicy:
    """For steps that call agent-shell through service invocation: 1, 2, 4, 8, 10, 10 s
    between attempts, so a restarting agent (~15 s) delays the order instead of failing it."""
    return wf.RetryPolicy(
        first_retry_interval=timedelta(seconds=1),
        max_number_of_attempts=settings.invoke_max_attempts,
        backoff_coefficient=2.0,
        max_retry_interval=timedelta(seconds=10),
    )


def _ms(a: datetime, b: datetime) -> float:
    return round((b - a).total_seconds() * 1000, 1)


class Run:
    """The in-workflow view of the run record, plus helpers that schedule its saving."""

    def __init__(self, ctx: wf.DaprWorkflowContext, inp: WorkflowInput) -> None:
        self.ctx = ctx
        self.inp = inp
        order = inp.order
        now = ctx.current_utc_datetime
        trace_id = order.traceparent.split("-")[1] if order.traceparent else None
        self.record = RunRecord(
            order_id=order.order_id,
            user_id=order.user_id,
            request=order,
            started_at=now,
            updated_at=now,
            trace_id=trace_id,
        )

    @property
    def tp(self) -> str | None:
        return self.inp.order.traceparent

    def step(self, name: str, started: datetime, status: str = "ok", detail: str | None = None):
        self.record.steps.append(
            StepTiming(
                step=name,
                started_at=started,
                duration_ms=_ms(started, self.ctx.current_utc_datetime),
                status=status,
                detail=detail,
            )
        )

    def save(self, phase: str, status: str | None = None):
        self.record.phase = phase
        if status:
            self.record.status = status
        self.record.updated_at = self.ctx.current_utc_datetime
        self.ctx.set_custom_status(f"{self.record.status}:{phase}")
        # Idempotent (the whole record, last write wins), so a store blip is retried here
        # rather than failing the run (the sidecar's own retries on orderstate are short).
        return self.ctx.call_activity(
            act.save_run,
            input={"record": self.record.model_dump(mode="json")},
            retry_policy=store_retry(get_settings()),
        )


def snacktopus(ctx: wf.DaprWorkflowContext, raw: dict[str, Any]) -> Generator[Any, Any, dict]:
    settings = get_settings()
    try:
        inp = WorkflowInput.parse(raw, settings)
    except ValidationError as exc:
        # Only a caller that skipped the API's validation (a raw Dapr start) gets here. The
        # instance ends FAILED with the reason, so Dapr's status says so (it used to end
        # COMPLETED with no run record, which `make load` counted as a lost run).
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise ValueError(f"invalid order input: {errors}") from None
    run = Run(ctx, inp)
    order = inp.order
    rec = run.record
    faults = inp.faults
    yield run.save("started")

    # 1. profile
    t = ctx.current_utc_datetime
    try:
        profile_raw = yield ctx.call_activity(
            act.load_profile,
            input={"order_id": order.order_id, "traceparent": run.tp, "user_id": order.user_id},
            retry_policy=invoke_retry(settings),
        )
        profile = Profile.model_validate(profile_raw)
        run.step("load_profile", t)
    except wf.TaskFailedError as exc:
        # Without the profile we cannot check allergens: never guess, block.
        run.step("load_profile", t, "failed", str(exc)[:200])
        return (yield from _finish_compensated(ctx, run, "failed", "profile unavailable", settings))

    # 2. fan-out / fan-in enrichment
    t = ctx.current_utc_datetime
    base = {
        "order_id": order.order_id,
        "traceparent": run.tp,
        "order": order.model_dump(mode="json"),
        "profile": profile.model_dump(mode="json"),
    }
    fns = {
        "catalog_lookup": act.catalog_lookup,
        "nutrition_and_allergens": act.nutrition_and_allergens,
        "price_quote": act.price_quote,
        "vendor_eta": act.vendor_eta,
    }
    tasks = {
        name: ctx.call_activity(
            fn,
            input={**base, "fail": name in faults.fail_branches},
            retry_policy=branch_retry(settings),
        )
        for name, fn in fns.items()
    }
    try:
        yield wf.when_all(list(tasks.values()))
    except wf.TaskFailedError:
        pass  # when_all fails fast; each branch is looked at below
    results: dict[str, Any] = {}
    for name, task in tasks.items():
        try:
            results[name] = yield task
        except wf.TaskFailedError:
            rec.degraded_branches.append(name)
    if "price_quote" in results:
        rec.side_effects.append("price_quote")
    run.step(
        "enrichment",
        t,
        detail=f"degraded: {','.join(rec.degraded_branches)}" if rec.degraded_branches else None,
    )

    # 3. recommend through service invocation of agent-shell
    t = ctx.current_utc_datetime
    try:
        rec_raw = yield ctx.call_activity(
            act.recommend,
            input={
                **base,
                "candidates": results.get("catalog_lookup", {}).get("candidates", []),
                "available": results.get("catalog_lookup", {}).get("available", {}),
                "excluded_allergens": results.get("nutrition_and_allergens", {}).get(
                    "excluded_allergens", []
                ),
                "discount_pct": results.get("price_quote", {}).get("discount_pct", 0.0),
                "degraded_branches": rec.degraded_branches,
            },
            retry_policy=invoke_retry(settings),
        )
    except wf.TaskFailedError as exc:
        run.step("recommend", t, "failed", str(exc)[:200])
        return (
            yield from _finish_compensated(ctx, run, "failed", "recommendation failed", settings)
        )
    recommendation = act.RecommendResult.model_validate(rec_raw)
    rec.basket = recommendation.basket
    rec.explanation = recommendation.explanation
    rec.total_usd = recommendation.basket.total_usd
    if recommendation.degraded and "recommend" not in rec.degraded_branches:
        rec.degraded_branches.append("recommend")
    run.step("recommend", t)

    # 4. safety gate
    t = ctx.current_utc_datetime
    safety = act.SafetyResult.model_validate(
        (
            yield ctx.call_activity(
                act.safety_gate,
                input={
                    **base,
                    "basket": recommendation.basket.model_dump(mode="json"),
                    "agent_flags": [f.model_dump() for f in recommendation.flags],
                },
            )
        )
    )
    rec.safety_flags = safety.flags
    run.step("safety_gate", t, detail=safety.verdict)
    if safety.verdict == "block":
        reason = "; ".join(f.detail for f in safety.flags if f.severity == "block")[:400]
        return (yield from _finish_compensated(ctx, run, "blocked", reason, settings))

    # 5. side effects: stock, then a delivery slot
    basket_in = {
        "order_id": order.order_id,
        "traceparent": run.tp,
        "basket": recommendation.basket.model_dump(mode="json"),
        "vendor_etas": results.get("vendor_eta", {}),
    }
    for name, fn in (
        ("reserve_inventory", act.reserve_inventory),
        ("hold_delivery_slot", act.hold_delivery_slot),
    ):
        t = ctx.current_utc_datetime
        try:
            held = yield ctx.call_activity(fn, input=basket_in, retry_policy=store_retry(settings))
        except wf.TaskFailedError as exc:
            run.step(name, t, "failed", str(exc)[:200])
            return (yield from _finish_compensated(ctx, run, "failed", f"{name} failed", settings))
        if (held or {}).get("status") == "out_of_stock":  # nothing held: no undo for it
            run.step(name, t, "failed", held["detail"][:200])
            return (yield from _finish_compensated(ctx, run, "failed", held["detail"], settings))
        rec.side_effects.append(name)
        run.step(name, t)

    # 6. human approval above the threshold
    if rec.total_usd > inp.approval_threshold_usd:
        requested = ctx.current_utc_datetime
        rec.approval = Approval(required=True, requested_at=requested)
        yield run.save("awaiting_approval", "awaiting_approval")
        event = ctx.wait_for_external_event(APPROVAL_EVENT)
        timer = ctx.create_timer(timedelta(seconds=inp.approval_timeout_s))
        winner = yield wf.when_any([event, timer])
        decided = ctx.current_utc_datetime
        rec.approval.decided_at = decided
        rec.approval.wait_s = round((decided - requested).total_seconds(), 3)
        if winner is timer:
            rec.approval.decision = "timeout"
            run.step("approval", requested, detail="timeout")
            reason = f"no approval within {inp.approval_timeout_s:g} s"
            return (yield from _finish_compensated(ctx, run, "timed_out", reason, settings))
        try:
            decision = ApprovalDecision.model_validate(event.get_result())
        except ValidationError:
            decision = ApprovalDecision(decision="reject", approver="invalid-event")
        rec.approval.approver = decision.approver
        rec.approval.comment = decision.comment
        if decision.decision == "expire":
            rec.approval.decision = "timeout"
            run.step("approval", requested, detail=f"expired by {decision.approver}")
            return (
                yield from _finish_compensated(
                    ctx, run, "timed_out", f"approval expired by {decision.approver}", settings
                )
            )
        if decision.decision in ("reject", "cancel"):
            rec.approval.decision = decision.decision
            run.step("approval", requested, detail=f"{decision.decision} by {decision.approver}")
            what = "rejected" if decision.decision == "reject" else "cancelled"
            reason = f"{what} by {decision.approver}" + (
                f": {decision.comment}" if decision.comment else ""
            )
            return (yield from _finish_compensated(ctx, run, "rejected", reason, settings))
        rec.approval.decision = "approve"
        run.step("approval", requested, detail=f"approved by {decision.approver}")
        yield run.save("approved", "running")

    # 7. place the order
    t = ctx.current_utc_datetime
    try:
        yield ctx.call_activity(
            act.place_order,
            input={
                "order_id": order.order_id,
                "traceparent": run.tp,
                "user_id": order.user_id,
                "basket": recommendation.basket.model_dump(mode="json"),
                "approver": rec.approval.approver,
            },
            retry_policy=store_retry(settings),
        )
    except wf.TaskFailedError as exc:
        run.step("place_order", t, "failed", str(exc)[:200])
        return (yield from _finish_compensated(ctx, run, "failed", "place_order failed", settings))
    rec.side_effects.append("place_order")
    run.step("place_order", t)

    # 8. done
    rec.finished_at = ctx.current_utc_datetime
    yield run.save("done", "completed")
    event = OrderCompleted(
        order_id=order.order_id,
        user_id=order.user_id,
        total_usd=rec.total_usd,
        basket=recommendation.basket,
        degraded_branches=rec.degraded_branches,
        approval="approved" if rec.approval.required else "auto",
        approver=rec.approval.approver,
        trace_id=rec.trace_id,
        event_id=f"{order.order_id}:completed",
        occurred_at=rec.finished_at,
    )
    yield ctx.call_activity(
        act.publish_event,
        input={
            "topic": TOPIC_ORDER_COMPLETED,
            "data": event.model_dump(mode="json"),
            "traceparent": run.tp,
        },
    )
    return {"status": "completed", "order_id": order.order_id, "total_usd": rec.total_usd}


def _finish_compensated(
    ctx: wf.DaprWorkflowContext,
    run: Run,
    status: str,
    reason: str,
    settings: WorkflowSettings,
) -> Generator[Any, Any, dict]:
    rec = run.record
    rec.reason = reason
    yield run.save("compensating", "compensating")
    t = ctx.current_utc_datetime
    result = yield from compensate(
        ctx,
        order_id=rec.order_id,
        side_effects=rec.side_effects,
        reason=f"{status}: {reason}",
        traceparent=run.tp,
        settings=settings,
        disabled_undo=set(run.inp.disabled_undo),
        failing_undo=set(run.inp.faults.fail_undo),
    )
    rec.compensations = result.ran
    rec.skipped_compensations = result.skipped
    run.step("compensation", t, "failed" if result.stuck else "ok", ",".join(result.ran) or None)
    if result.stuck:
        status = "failed"
        rec.reason = f"{reason}; compensation stuck at {', '.join(result.stuck)}"
    rec.finished_at = ctx.current_utc_datetime
    yield run.save("done", status)
    if result.stuck:
        alert = OrderAlert(
            order_id=rec.order_id,
            stuck_step=result.stuck[0],
            stuck_steps=result.stuck,
            error=result.error or "",
            attempts=settings.undo_max_attempts,
            trace_id=rec.trace_id,
            event_id=f"{rec.order_id}:alert",
            occurred_at=rec.finished_at,
        )
        yield ctx.call_activity(
            act.publish_event,
            input={
                "topic": TOPIC_ORDER_ALERT,
                "data": alert.model_dump(mode="json"),
                "traceparent": run.tp,
            },
        )
    event = OrderCompensated(
        order_id=rec.order_id,
        user_id=rec.user_id,
        status=status,
        reason=rec.reason[:500],
        total_usd=rec.total_usd,
        compensations=result.ran,
        skipped_compensations=result.skipped,
        degraded_branches=rec.degraded_branches,
        safety_flags=rec.safety_flags,
        approver=rec.approval.approver,
        trace_id=rec.trace_id,
        event_id=f"{rec.order_id}:compensated",
        occurred_at=rec.finished_at,
    )
    yield ctx.call_activity(
        act.publish_event,
        input={
            "topic": TOPIC_ORDER_COMPENSATED,
            "data": event.model_dump(mode="json"),
            "traceparent": run.tp,
        },
    )
    return {"status": status, "order_id": rec.order_id, "reason": rec.reason}


__all__ = ["APPROVAL_EVENT", "WORKFLOW_NAME", "Basket", "WorkflowInput", "snacktopus"]
