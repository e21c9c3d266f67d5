"""The ``snacktopus`` workflow: one order from request to ledger, or back out.

Deterministic by construction: no I/O, clocks or randomness here; time comes from
``ctx.current_utc_datetime``, everything else from activities. Runs in flight replay their
history against this code, so the activities, timers and events it asks for (names, order,
inputs) must not change within a workflow version. Steps (DESIGN.md):

1. load_profile
2. fan-out/fan-in enrichment (catalog_lookup, nutrition_and_allergens, price_quote,
   vendor_eta), each with a retry policy; a branch that still fails degrades the run
3. recommend (agent-shell through Dapr service invocation)
4. safety_gate: unsafe -> compensate, ``blocked``
5. reserve_inventory, hold_delivery_slot (side effects)
6. above the threshold: humanApproval events raced against a timer, with the approval
   policies and notifications of :mod:`workflow_host.policies` (patch
   ``approval-policies-v1``; runs from before it keep the single decision)
   reject -> ``rejected``, timeout -> ``timed_out`` (both compensate)
7. place_order
8. the run record is saved at each phase; the terminal event is published

Runs that start on this code take the ``lean-run-v1`` path (:data:`LEAN`), which asks
for the same work in fewer orchestration turns: the first save beside load_profile, the
stock and the delivery slot held at once, and the last save with its events in one
activity (``finish_run``). Runs from before it replay the one-at-a-time path.

A step whose activity still fails after its retries ends the run ``failed``, after
compensation; so does an input asking for fault injection on a host that does not allow it
(:meth:`WorkflowInput.refusal`). Each phase is a sub-generator; one that ends the run early
raises :class:`Halt`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import Any, TypeVar

import dapr.ext.workflow as wf
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from snacktopus_core.events import (
    TOPIC_ORDER_ALERT,
    TOPIC_ORDER_COMPENSATED,
    TOPIC_ORDER_COMPLETED,
    Event,
    OrderAlert,
    OrderCompensated,
    OrderCompleted,
)
from snacktopus_core.models import Basket, OrderRequest, Profile

from workflow_host import activities as act
from workflow_host import policies
from workflow_host.compensation import CompensationResult, compensate
from workflow_host.policies import APPROVAL_EVENT, ApprovalPolicy
from workflow_host.retry_policies import retry_policy
from workflow_host.runs import Approval, ApprovalDecision, RunRecord, RunStatus, StepTiming
from workflow_host.settings import BRANCHES, UNDO_STEPS, WorkflowSettings, get_settings

WORKFLOW_NAME = "snacktopus"
# The is_patched name of the path with fewer orchestration turns (module docstring). Every
# turn is a round trip through daprd's actor and reminder machinery, the larger part of a
# run's time next to the bare workflow (test plan, Appendix B).
LEAN = "lean-run-v1"
# The enrichment branches, in the order they are scheduled.
BRANCH_ACTIVITIES = {name: getattr(act, name) for name in BRANCHES}
# What a run holds before approval, each undone by compensation.
HOLDS = (act.reserve_inventory, act.hold_delivery_slot)

M = TypeVar("M", bound=BaseModel)
Steps = Generator[Any, Any, Any]


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
    # Absent from inputs of runs started before the policies: they apply none.
    policy: ApprovalPolicy = ApprovalPolicy()

    @classmethod
    def from_order(
        cls, order: OrderRequest, settings: WorkflowSettings, faults: Faults | None = None
    ) -> WorkflowInput:
        return cls(
            order=order,
            approval_threshold_usd=settings.approval_threshold_usd,
            approval_timeout_s=settings.approval_timeout_s,
            disabled_undo=_disabled_undo(settings),
            faults=faults or Faults(),
            policy=ApprovalPolicy.of(settings),
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

    def refusal(self, settings: WorkflowSettings) -> str | None:
        """Why this host refuses to run the input, if it does. Failing steps and undo steps
        switched off are for tests and drills: without ALLOW_FAULT_INJECTION an input may
        only skip the undo steps this host's own COMPENSATE_* settings skip, which is what
        ``POST /orders`` captures. Checked here, not only in the API, because a start
        straight through Dapr's workflow API never passes the API. Like the retry settings,
        the settings are read again when a run replays: switching the flag off under a run
        in flight that asked for faults sends its replay off its history, and Dapr fails it
        as non-deterministic."""
        if settings.allow_fault_injection:
            return None
        asked = [f"faults.{k}={v}" for k, v in self.faults.model_dump().items() if v]
        skipped = set(_disabled_undo(settings))
        if extra := [u for u in self.disabled_undo if u not in skipped]:
            asked.append(f"disabled_undo={extra}")
        if not asked:
            return None
        return f"fault injection is disabled (ALLOW_FAULT_INJECTION=false): {'; '.join(asked)}"


def _disabled_undo(settings: WorkflowSettings) -> list[str]:
    return [u for u in UNDO_STEPS if not settings.compensation_enabled(u)]


class InputRefused(ValueError):
    """Fails the instance of a run whose input this host refuses (its record says why)."""


class Halt(Exception):
    """Ends a run before the ledger: it compensates, then ends with ``status``."""

    def __init__(self, status: RunStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Enrichment(BaseModel):
    """What the enrichment branches that answered tell the later steps."""

    catalog: act.CatalogResult = act.CatalogResult()
    allergens: act.AllergenResult = act.AllergenResult()
    discount_pct: float = 0.0
    vendor_etas: dict[str, int] = {}

    @classmethod
    def of(cls, results: dict[str, Any]) -> Enrichment:
        return cls(
            catalog=results.get("catalog_lookup", {}),
            allergens=results.get("nutrition_and_allergens", {}),
            discount_pct=results.get("price_quote", {}).get("discount_pct", 0.0),
            vendor_etas=results.get("vendor_eta", {}),
        )


def _ms(a: datetime, b: datetime) -> float:
    return round((b - a).total_seconds() * 1000, 1)


class Run:
    """The in-workflow view of the run record, plus what schedules its saving and events."""

    def __init__(
        self, ctx: wf.DaprWorkflowContext, inp: WorkflowInput, settings: WorkflowSettings
    ) -> None:
        self.ctx = ctx
        self.inp = inp
        self.settings = settings
        self.order = inp.order
        # Asked once, first: a run started before the patch is replaying here, so it keeps
        # the old path throughout, however far it gets on this code.
        self.lean = ctx.is_patched(LEAN)
        now = ctx.current_utc_datetime
        tp = self.order.traceparent
        self.record = RunRecord(
            order_id=self.order.order_id,
            user_id=self.order.user_id,
            request=self.order,
            started_at=now,
            updated_at=now,
            trace_id=tp.split("-")[1] if tp else None,
        )

    @property
    def tp(self) -> str | None:
        return self.order.traceparent

    @property
    def keys(self) -> dict[str, Any]:
        """What every activity input starts with: the order and the trace it joins."""
        return {"order_id": self.order.order_id, "traceparent": self.tp}

    @property
    def now(self) -> datetime:
        return self.ctx.current_utc_datetime

    def step(self, name: str, started: datetime, status: str = "ok", detail: str | None = None):
        duration = _ms(started, self.now)
        self.record.steps.append(
            StepTiming(
                step=name, started_at=started, duration_ms=duration, status=status, detail=detail
            )
        )

    def save_marks(self, phase: str, status: RunStatus | None = None) -> None:
        """What every save stamps on the record first: phase, status and time."""
        self.record.phase = phase
        if status:
            self.record.status = status
        self.record.updated_at = self.now
        self.ctx.set_custom_status(f"{self.record.status}:{phase}")

    def save(self, phase: str, status: RunStatus | None = None):
        self.save_marks(phase, status)
        # Idempotent (the whole record, last write wins), so a store blip is retried here
        # rather than failing the run (the sidecar's own retries on orderstate are short).
        return self.ctx.call_activity(
            act.save_run,
            input=act.SaveRunInput(record=self.record),
            retry_policy=retry_policy("store", self.settings),
        )

    def start(self) -> Steps:
        """Saves the record as started. A run started straight through Dapr's workflow API
        has no ``traceparent``; its activities join the orchestration's trace (see
        :mod:`workflow_host.activities`), and this first save answers that trace's id, which
        the record, every later save and the order's events then carry. Taken from the
        activity's result, kept in history, so a replay reads the same id; the calls made
        do not change (no patch needed), and a run whose first save answered ``null``
        (started before this) replays as it ran."""
        self.adopt_trace((yield self.save("started")))

    def adopt_trace(self, saved: Any) -> None:
        if self.record.trace_id is None and isinstance(saved, dict):
            self.record.trace_id = saved.get("trace_id")

    def publish(self, topic: str, event: Event):
        return self.ctx.call_activity(act.publish_event, input=self._event(topic, event))

    def _event(self, topic: str, event: Event) -> act.PublishInput:
        data = event.model_dump(mode="json")
        return act.PublishInput(topic=topic, data=data, traceparent=self.tp)

    def finish(self, status: RunStatus, events: list[tuple[str, Event]]) -> Steps:
        """The last save and the events that announce it: one ``finish_run`` on the lean
        path; before it, the save and then one ``publish_event`` each."""
        if not self.lean:
            yield self.save("done", status)
            for topic, event in events:
                yield self.publish(topic, event)
            return
        self.save_marks("done", status)
        yield self.ctx.call_activity(
            act.finish_run,
            input=act.FinishInput(
                record=self.record, events=[self._event(t, e) for t, e in events]
            ),
            retry_policy=retry_policy("store", self.settings),
        )


def call_step(
    run: Run,
    activity: Callable[..., Any],
    data: BaseModel,
    *,
    retry: wf.RetryPolicy | None = None,
    returns: type[M] | None = None,
    judge: Callable[[Any], tuple[str, str | None]] | None = None,
    reason: str | None = None,
) -> Steps:
    """Times the step (named as its activity), calls the activity and returns its result
    (as ``returns``). ``judge`` reads the result into the step's status and detail. An
    activity that still fails after its retries, or a result judged ``failed``, is recorded
    and halts the run, which then compensates and ends ``failed`` with ``reason``."""
    started = run.now
    try:
        raw = yield run.ctx.call_activity(activity, input=data, retry_policy=retry)
    except wf.TaskFailedError as exc:
        raw = exc
    return judged(run, activity.__name__, started, raw, returns, judge, reason)


def judged(
    run: Run,
    name: str,
    started: datetime,
    raw: Any,
    returns: type[M] | None = None,
    judge: Callable[[Any], tuple[str, str | None]] | None = None,
    reason: str | None = None,
) -> Any:
    """A step's outcome (its result, or the ``TaskFailedError`` it ended with) recorded as
    its timing, then returned as ``returns``; a failure halts the run (see ``call_step``)."""
    if isinstance(raw, wf.TaskFailedError):
        run.step(name, started, "failed", str(raw)[:200])
        raise Halt("failed", reason or f"{name} failed")
    result = returns.model_validate(raw) if returns else raw
    status, detail = judge(result) if judge else ("ok", None)
    run.step(name, started, status, detail and detail[:200])
    if status == "failed":
        raise Halt("failed", detail or reason or f"{name} failed")
    return result


def settle(tasks: dict[str, Any]) -> Generator[Any, Any, dict[str, Any]]:
    """Waits for every task (``when_all`` alone stops at the first failure, while the
    others may still be holding something) and answers each one's result, or the
    ``TaskFailedError`` it ended with."""
    try:
        yield wf.when_all(list(tasks.values()))
    except wf.TaskFailedError:
        pass
    outcomes: dict[str, Any] = {}
    for name, task in tasks.items():
        try:
            outcomes[name] = yield task
        except wf.TaskFailedError as exc:
            outcomes[name] = exc
    return outcomes


# ----------------------------------------------------------------------------- the story
def snacktopus(ctx: wf.DaprWorkflowContext, raw: dict[str, Any]) -> Generator[Any, Any, dict]:
    settings = get_settings()
    inp = _read_input(raw, settings)
    run = Run(ctx, inp, settings)
    if refusal := inp.refusal(settings):
        yield from run.start()
        yield from _finish_compensated(run, Halt("failed", refusal))
        raise InputRefused(refusal)
    try:
        profile = yield from _start(run)
        enrichment = yield from _enrich(run, profile)
        recommendation = yield from _recommend(run, profile, enrichment)
        yield from _safety_gate(run, profile, recommendation)
        yield from _hold_side_effects(run, recommendation.basket, enrichment)
        yield from _approval(run)
        yield from _place_order(run, recommendation.basket)
    except Halt as halt:
        return (yield from _finish_compensated(run, halt))
    return (yield from _finish_completed(run, recommendation.basket))


def _read_input(raw: Any, settings: WorkflowSettings) -> WorkflowInput:
    # Only a caller that skipped the API's validation (a raw Dapr start) gets an error here.
    # The instance ends FAILED with the reason, so Dapr's status says so: a run that ended
    # COMPLETED with no run record is what `make load` counts as a lost run.
    if not isinstance(raw, dict):
        raise ValueError(f"invalid order input: expected a JSON object, got {type(raw).__name__}")
    try:
        return WorkflowInput.parse(raw, settings)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise ValueError(f"invalid order input: {errors}") from None


def _start(run: Run) -> Generator[Any, Any, Profile]:
    """The record saved as started, and the user's profile: side by side on the lean
    path. Without the profile we cannot check allergens: never guess, stop. A record that
    cannot be saved fails the run on either path (the save's own retries are spent)."""
    data = act.ProfileInput(**run.keys, user_id=run.order.user_id)
    retry = retry_policy("invoke", run.settings)
    why = "profile unavailable"
    if not run.lean:
        yield from run.start()
        return (
            yield from call_step(
                run, act.load_profile, data, retry=retry, returns=Profile, reason=why
            )
        )
    started = run.now
    saving = run.save("started")  # scheduled first: the record goes before the steps
    profile = run.ctx.call_activity(act.load_profile, input=data, retry_policy=retry)
    out = yield from settle({"save_run": saving, "load_profile": profile})
    if isinstance(out["save_run"], wf.TaskFailedError):
        raise out["save_run"]
    run.adopt_trace(out["save_run"])
    return judged(run, "load_profile", started, out["load_profile"], Profile, reason=why)


def _enrich(run: Run, profile: Profile) -> Generator[Any, Any, Enrichment]:
    """All branches at once; one that still fails after its retries degrades the run."""
    started = run.now
    rec = run.record
    tasks = {
        name: run.ctx.call_activity(
            activity,
            input=act.BranchInput(
                **run.keys,
                order=run.order,
                profile=profile,
                fail=name in run.inp.faults.fail_branches,
            ),
            retry_policy=retry_policy("branch", run.settings),
        )
        for name, activity in BRANCH_ACTIVITIES.items()
    }
    outcomes = yield from settle(tasks)
    results: dict[str, Any] = {}
    for name, outcome in outcomes.items():
        if isinstance(outcome, wf.TaskFailedError):
            rec.degraded_branches.append(name)
        else:
            results[name] = outcome
    if "price_quote" in results:
        rec.side_effects.append("price_quote")
    degraded = ",".join(rec.degraded_branches)
    run.step("enrichment", started, detail=f"degraded: {degraded}" if degraded else None)
    return Enrichment.of(results)


def _recommend(
    run: Run, profile: Profile, enrichment: Enrichment
) -> Generator[Any, Any, act.RecommendResult]:
    """The basket and its explanation, from agent-shell through service invocation."""
    rec = run.record
    data = act.RecommendInput(
        **run.keys,
        order=run.order,
        profile=profile,
        candidates=enrichment.catalog.candidates,
        available=enrichment.catalog.available,
        excluded_allergens=enrichment.allergens.excluded_allergens,
        discount_pct=enrichment.discount_pct,
        degraded_branches=rec.degraded_branches,
    )
    recommendation = yield from call_step(
        run,
        act.recommend,
        data,
        retry=retry_policy("invoke", run.settings),
        returns=act.RecommendResult,
        reason="recommendation failed",
    )
    rec.basket = recommendation.basket
    rec.explanation = recommendation.explanation
    rec.total_usd = recommendation.basket.total_usd
    if recommendation.degraded and "recommend" not in rec.degraded_branches:
        rec.degraded_branches.append("recommend")
    return recommendation


def _safety_gate(run: Run, profile: Profile, recommendation: act.RecommendResult) -> Steps:
    data = act.SafetyInput(
        **run.keys,
        order=run.order,
        profile=profile,
        basket=recommendation.basket,
        agent_flags=recommendation.flags,
    )
    safety = yield from call_step(
        run, act.safety_gate, data, returns=act.SafetyResult, judge=lambda s: ("ok", s.verdict)
    )
    run.record.safety_flags = safety.flags
    if safety.verdict == "block":
        reason = "; ".join(f.detail for f in safety.flags if f.severity == "block")[:400]
        raise Halt("blocked", reason)


def _hold_side_effects(run: Run, basket: Basket, enrichment: Enrichment) -> Steps:
    """Stock and a delivery slot, each something compensation undoes: at once on the lean
    path, one after the other before it."""
    data = act.BasketInput(**run.keys, basket=basket, vendor_etas=enrichment.vendor_etas)
    retry = retry_policy("store", run.settings)
    if not run.lean:
        for activity in HOLDS:
            yield from call_step(run, activity, data, retry=retry, judge=_out_of_stock)
            run.record.side_effects.append(activity.__name__)
        return
    started = run.now
    tasks = {a.__name__: run.ctx.call_activity(a, input=data, retry_policy=retry) for a in HOLDS}
    halts = []
    for name, outcome in (yield from settle(tasks)).items():
        try:
            judged(run, name, started, outcome, judge=_out_of_stock)
        except Halt as halt:
            halts.append(halt)  # the other hold may have held: it is undone with the run
            continue
        run.record.side_effects.append(name)
    if halts:
        raise halts[0]


def _out_of_stock(held: dict[str, Any] | None) -> tuple[str, str | None]:
    # An answer, not a fault: nothing was held, so there is nothing to undo for it.
    if (held or {}).get("status") == "out_of_stock":
        return "failed", held["detail"]
    return "ok", None


def _approval(run: Run) -> Steps:
    """Above the threshold a person decides, raced against the timeout."""
    rec, inp = run.record, run.inp
    if rec.total_usd <= inp.approval_threshold_usd:
        return
    requested = run.now
    if run.ctx.is_patched(policies.PATCH):
        decision = yield from policies.approval(run, requested)
        if decision is not None:
            decision = policies.merged(decision, rec.approval)
    else:
        decision = yield from _single_decision(run, requested)
        policies.stamp_decided(rec.approval, run.now, requested)
    _decide(run, decision, requested)
    yield run.save("approved", "running")


def _single_decision(run: Run, requested: datetime) -> Generator[Any, Any, ApprovalDecision | None]:
    """The path of runs started before the approval policies: one decision, no notices."""
    run.record.approval = Approval(required=True, requested_at=requested)
    yield run.save("awaiting_approval", "awaiting_approval")
    event = run.ctx.wait_for_external_event(APPROVAL_EVENT)
    timer = run.ctx.create_timer(timedelta(seconds=run.inp.approval_timeout_s))
    winner = yield wf.when_any([event, timer])
    return None if winner is timer else _decision(event.get_result())


def _decision(payload: Any) -> ApprovalDecision:
    try:
        return ApprovalDecision.model_validate(payload)
    except ValidationError:
        return ApprovalDecision(decision="reject", approver="invalid-event")


def _decide(run: Run, decision: ApprovalDecision | None, requested: datetime) -> None:
    """Records the decision (``None``: the timer won); anything but approve halts the run."""
    approval = run.record.approval
    if decision is None:
        approval.decision = "timeout"
        run.step("approval", requested, detail="timeout")
        raise Halt("timed_out", f"no approval within {run.inp.approval_timeout_s:g} s")
    approval.approver = decision.approver
    approval.comment = decision.comment
    who = decision.approver
    if decision.decision == "expire":
        approval.decision = "timeout"
        run.step("approval", requested, detail=f"expired by {who}")
        raise Halt("timed_out", f"approval expired by {who}")
    if decision.decision in ("reject", "cancel"):
        approval.decision = decision.decision
        run.step("approval", requested, detail=f"{decision.decision} by {who}")
        what = "rejected" if decision.decision == "reject" else "cancelled"
        comment = f": {decision.comment}" if decision.comment else ""
        raise Halt("rejected", f"{what} by {who}{comment}")
    approval.decision = "approve"
    run.step("approval", requested, detail=f"approved by {who}")


def _place_order(run: Run, basket: Basket) -> Steps:
    data = act.PlaceInput(
        **run.keys,
        user_id=run.order.user_id,
        basket=basket,
        approver=run.record.approval.approver,
    )
    yield from call_step(run, act.place_order, data, retry=retry_policy("store", run.settings))
    run.record.side_effects.append("place_order")


def _finish_completed(run: Run, basket: Basket) -> Generator[Any, Any, dict]:
    rec = run.record
    rec.finished_at = run.now
    event = OrderCompleted(
        order_id=rec.order_id,
        user_id=rec.user_id,
        total_usd=rec.total_usd,
        basket=basket,
        degraded_branches=rec.degraded_branches,
        approval="approved" if rec.approval.required else "auto",
        approver=rec.approval.approver,
        trace_id=rec.trace_id,
        event_id=f"{rec.order_id}:completed",
        occurred_at=rec.finished_at,
    )
    yield from run.finish("completed", [(TOPIC_ORDER_COMPLETED, event)])
    return {"status": "completed", "order_id": rec.order_id, "total_usd": rec.total_usd}


def _finish_compensated(run: Run, halt: Halt) -> Generator[Any, Any, dict]:
    """Undoes every side effect done so far; an undo step that stays stuck fails the run
    and raises an alert."""
    rec = run.record
    rec.reason = halt.reason
    yield run.save("compensating", "compensating")
    started = run.now
    undo = yield from compensate(
        run.ctx,
        order_id=rec.order_id,
        side_effects=rec.side_effects,
        reason=f"{halt.status}: {halt.reason}",
        traceparent=run.tp,
        settings=run.settings,
        disabled_undo=set(run.inp.disabled_undo),
        failing_undo=set(run.inp.faults.fail_undo),
    )
    rec.compensations = undo.ran
    rec.skipped_compensations = undo.skipped
    run.step("compensation", started, "failed" if undo.stuck else "ok", ",".join(undo.ran) or None)
    status = "failed" if undo.stuck else halt.status
    if undo.stuck:
        rec.reason = f"{halt.reason}; compensation stuck at {', '.join(undo.stuck)}"
    rec.finished_at = run.now
    events = [(TOPIC_ORDER_ALERT, _alert(run, undo))] if undo.stuck else []
    events.append((TOPIC_ORDER_COMPENSATED, _compensated(run, status, undo)))
    yield from run.finish(status, events)
    return {"status": status, "order_id": rec.order_id, "reason": rec.reason}


def _alert(run: Run, undo: CompensationResult) -> OrderAlert:
    rec = run.record
    return OrderAlert(
        order_id=rec.order_id,
        stuck_step=undo.stuck[0],
        stuck_steps=undo.stuck,
        error=undo.error or "",
        attempts=run.settings.undo_max_attempts,
        trace_id=rec.trace_id,
        event_id=f"{rec.order_id}:alert",
        occurred_at=rec.finished_at,
    )


def _compensated(run: Run, status: RunStatus, undo: CompensationResult) -> OrderCompensated:
    rec = run.record
    return OrderCompensated(
        order_id=rec.order_id,
        user_id=rec.user_id,
        status=status,
        reason=rec.reason[:500],
        total_usd=rec.total_usd,
        compensations=undo.ran,
        skipped_compensations=undo.skipped,
        degraded_branches=rec.degraded_branches,
        safety_flags=rec.safety_flags,
        approver=rec.approval.approver,
        trace_id=rec.trace_id,
        event_id=f"{rec.order_id}:compensated",
        occurred_at=rec.finished_at,
    )


__all__ = ["APPROVAL_EVENT", "WORKFLOW_NAME", "Faults", "WorkflowInput", "snacktopus"]
