"""The ``snacktopus`` orchestrator driven by a fake orchestration context: every way a run
ends, the activities it asks for in order, its run record and its events. No stack."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from dapr.ext.workflow import _model_protocol
from snacktopus_core.events import OrderAlert, OrderCompensated, OrderCompleted
from workflow_host import workflow
from workflow_host.policies import PATCH
from workflow_host.runtime import ACTIVITIES
from workflow_host.settings import WorkflowSettings

from tests.unit.workflow_fake import Fail, FakeOrchestrationContext, drive

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
ORDER = {
    "order_id": "ord-1",
    "user_id": "u1",
    "request": "gluten-free snacks",
    "budget_usd": 100.0,
    "headcount": 12,
    "traceparent": TRACEPARENT,
}
BRANCHES = ["catalog_lookup", "nutrition_and_allergens", "price_quote", "vendor_eta"]
HELD = ["reserve_inventory", "hold_delivery_slot"]
UNDO_ALL = ["release_delivery_slot", "release_inventory", "release_quote"]
UP_TO_HOLDS = ["save_run", "load_profile", *BRANCHES, "recommend", "safety_gate", *HELD]
# Saved awaiting_approval, order.approval_requested, then the race (event vs deadline).
ASK = ["save_run", "publish_event", "humanApproval", "timer"]
CLOSED = ["publish_event"]  # order.approval_closed, whatever ended the wait
# A run from before the approval-policies patch: saved, then the race, no notices.
OLD_ASK = ["save_run", "humanApproval", "timer"]
# The last save and the terminal events: one activity on the lean path.
DONE = ["finish_run"]
# A run from before the lean path: the save, then one publish per event.
OLD_DONE = ["save_run", "publish_event"]
COMPENSATING = "save_run"
APPROVE = {"decision": "approve", "approver": "alice"}


def through(step: str) -> list[str]:
    """The sequence of a run that gets as far as ``step``."""
    return UP_TO_HOLDS[: UP_TO_HOLDS.index(step) + 1]


def basket(total: float) -> dict[str, Any]:
    line = {
        "sku": "S1",
        "name": "Rice crackers",
        "quantity": 2,
        "unit_price_usd": total / 2,
        "line_total_usd": total,
        "servings": 24,
        "allergens": [],
        "vendor": "V1",
    }
    return {"lines": [line], "total_usd": total, "servings": 24}


SMALL = {"basket": basket(12.0), "explanation": "crackers for 12"}
BIG = {"basket": basket(80.0), "explanation": "a feast"}
ANSWERS: dict[str, Any] = {
    "load_profile": {"user_id": "u1", "allergies": ["milk"], "updated_at": "2026-01-01T00:00:00Z"},
    "catalog_lookup": {"candidates": ["S1"], "available": {"S1": 9}},
    "nutrition_and_allergens": {"excluded_allergens": ["milk"], "diets": [], "avoid_words": []},
    "price_quote": {"order_id": "ord-1", "discount_pct": 5.0, "status": "held"},
    "vendor_eta": {"V1": 45},
    "recommend": SMALL,
    "safety_gate": {"verdict": "ok", "flags": []},
    "reserve_inventory": {"order_id": "ord-1", "status": "held"},
    "hold_delivery_slot": {"order_id": "ord-1", "status": "held"},
    "place_order": {"order_id": "ord-1"},
}


def settings(**overrides: Any) -> WorkflowSettings:
    values = {
        "approval_threshold_usd": 50,
        "approval_timeout_s": 300,
        "allow_fault_injection": False,
        "undo_max_attempts": 4,
        **overrides,
    }
    return WorkflowSettings(_env_file=None, **values)


def full_input(**fields: Any) -> dict[str, Any]:
    return {"order": ORDER, "approval_threshold_usd": 50, "approval_timeout_s": 300, **fields}


def answering(**answers: Any):
    """Answers each activity from ``ANSWERS`` with ``answers`` on top (a ``Fail`` fails one)."""
    table = {**ANSWERS, **answers}
    return lambda name, _input: table.get(name)


@pytest.fixture
def go(monkeypatch):
    """``go(raw, event=, host=, **answers)`` drives one run to its end on ``host``'s
    settings and returns the fake context and the run's result."""

    def start(raw=None, *, event=None, events=None, patched=True, host=None, **answers):
        monkeypatch.setattr(workflow, "get_settings", lambda: host or settings())
        ctx = FakeOrchestrationContext(
            answering(**answers), event=event, events=events, patched=patched
        )
        return ctx, drive(workflow.snacktopus, ctx, full_input() if raw is None else raw)

    return start


def event_of(ctx: FakeOrchestrationContext, topic: str) -> dict[str, Any]:
    (data,) = [d for t, d in ctx.published if t == topic]
    return data


# ----------------------------------------------------------------------------- completed
def test_a_small_order_completes_without_asking_anyone(go):
    ctx, result = go()

    assert ctx.sequence == [*UP_TO_HOLDS, "place_order", *DONE]
    assert result == {"status": "completed", "order_id": "ord-1", "total_usd": 12.0}
    record = ctx.records[-1]
    assert (record["status"], record["phase"]) == ("completed", "done")
    assert record["side_effects"] == ["price_quote", *HELD, "place_order"]
    assert [s["step"] for s in record["steps"]] == [
        "load_profile",
        "enrichment",
        "recommend",
        "safety_gate",
        *HELD,
        "place_order",
    ]
    assert record["approval"]["required"] is False
    assert record["trace_id"] == TRACEPARENT.split("-")[1]
    completed = OrderCompleted.model_validate(event_of(ctx, "order.completed"))
    assert (completed.approval, completed.total_usd) == ("auto", 12.0)
    assert ctx.custom_status == ["running:started", "completed:done"]


def test_a_large_order_waits_for_a_person_and_completes_once_approved(go):
    ctx, result = go(event=APPROVE, recommend=BIG)

    assert ctx.sequence == [*UP_TO_HOLDS, *ASK, *CLOSED, "save_run", "place_order", *DONE]
    requested = datetime.fromisoformat(ctx.records[-3]["approval"]["requested_at"])
    deadline = requested + timedelta(seconds=300)
    assert [c.fire_at for c in ctx.calls if c.kind == "timer"] == [deadline]
    assert result["status"] == "completed"
    assert ctx.records[-3]["status"] == "awaiting_approval"
    assert ctx.patches == [workflow.LEAN, PATCH]
    record = ctx.records[-1]
    assert record["status"] == "completed"
    assert record["approval"]["decision"] == "approve"
    assert record["approval"]["approver"] == "alice"
    # From the request to the decision: the save, the notice and the race, 1 s each.
    assert record["approval"]["wait_s"] == 3.0
    assert [v["approver"] for v in record["approval"]["votes"]] == ["alice"]
    assert ctx.inputs("place_order")[0]["approver"] == "alice"
    assert event_of(ctx, "order.completed")["approval"] == "approved"


# ----------------------------------------------------------------------------- versioning
def test_a_run_schedules_together_what_does_not_wait_on_each_other(go):
    """The lean path: seven orchestration turns for an auto-approved order, where the
    one-at-a-time path took ten (a turn is a round trip through daprd)."""
    ctx, result = go()

    assert result["status"] == "completed"
    assert ctx.batches == [
        ["save_run", "load_profile"],
        BRANCHES,
        ["recommend"],
        ["safety_gate"],
        HELD,
        ["place_order"],
        ["finish_run"],
    ]
    assert ctx.records[0]["phase"] == "started"


def test_a_run_from_before_the_lean_path_replays_one_step_at_a_time(go):
    """Its history has the approval policies but not lean-run-v1: the replay asks for what
    it asked then, each step in a turn of its own, the last save and each event apart."""
    ctx, result = go(event=APPROVE, recommend=BIG, patched={PATCH})

    assert result["status"] == "completed"
    assert ctx.patches == [workflow.LEAN, PATCH]
    assert ctx.sequence == [*UP_TO_HOLDS, *ASK, *CLOSED, "save_run", "place_order", *OLD_DONE]
    assert [b for b in ctx.batches if len(b) > 1] == [BRANCHES, ["humanApproval", "timer"]]
    record = ctx.records[-1]
    assert (record["status"], record["side_effects"]) == (
        "completed",
        ["price_quote", *HELD, "place_order"],
    )
    assert [t for t, _ in ctx.published] == [
        "order.approval_requested",
        "order.approval_closed",
        "order.completed",
    ]


def test_a_record_that_cannot_be_saved_fails_the_run_on_the_lean_path_too(go):
    with pytest.raises(workflow.wf.TaskFailedError):
        go(save_run=Fail("store down"))


# ----------------------------------------------------------------------------- blocked
def test_an_unsafe_basket_is_blocked_and_only_the_quote_is_undone(go):
    flags = [
        {"kind": "allergen_conflict", "severity": "block", "detail": "S1 contains milk"},
        {"kind": "over_budget", "severity": "warn", "detail": "close to budget"},
    ]
    ctx, result = go(safety_gate={"verdict": "block", "flags": flags})

    assert ctx.sequence == [*through("safety_gate"), COMPENSATING, "release_quote", *DONE]
    assert result == {"status": "blocked", "order_id": "ord-1", "reason": "S1 contains milk"}
    record = ctx.records[-1]
    assert (record["status"], record["compensations"]) == ("blocked", ["release_quote"])
    assert ctx.inputs("release_quote")[0]["reason"] == "blocked: S1 contains milk"
    compensated = OrderCompensated.model_validate(event_of(ctx, "order.compensated"))
    assert [f.kind for f in compensated.safety_flags] == ["allergen_conflict", "over_budget"]


# ----------------------------------------------------------------------------- rejected
@pytest.mark.parametrize(
    ("event", "reason", "decision"),
    [
        (
            {**APPROVE, "decision": "reject", "comment": "too much"},
            "rejected by alice: too much",
            "reject",
        ),
        ({"decision": "cancel", "approver": "bob"}, "cancelled by bob", "cancel"),
        ({"decision": "maybe"}, "rejected by invalid-event", "reject"),
    ],
)
def test_a_rejected_order_undoes_every_side_effect_in_reverse(go, event, reason, decision):
    ctx, result = go(event=event, recommend=BIG)

    assert ctx.sequence == [*UP_TO_HOLDS, *ASK, *CLOSED, COMPENSATING, *UNDO_ALL, *DONE]
    assert result == {"status": "rejected", "order_id": "ord-1", "reason": reason}
    record = ctx.records[-1]
    assert record["status"] == "rejected"
    assert record["approval"]["decision"] == decision
    assert record["compensations"] == UNDO_ALL
    assert {u["reason"] for u in ctx.inputs("release_inventory")} == {f"rejected: {reason}"}
    assert event_of(ctx, "order.compensated")["compensations"] == UNDO_ALL


# ----------------------------------------------------------------------------- timed out
@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (None, "no approval within 300 s"),
        ({"decision": "expire", "approver": "sweeper"}, "approval expired by sweeper"),
    ],
)
def test_an_order_nobody_approves_in_time_times_out_and_is_undone(go, event, reason):
    ctx, result = go(event=event, recommend=BIG)

    assert ctx.sequence == [*UP_TO_HOLDS, *ASK, *CLOSED, COMPENSATING, *UNDO_ALL, *DONE]
    assert result == {"status": "timed_out", "order_id": "ord-1", "reason": reason}
    record = ctx.records[-1]
    assert (record["status"], record["approval"]["decision"]) == ("timed_out", "timeout")
    assert record["compensations"] == UNDO_ALL


# ----------------------------------------------------------------------------- failed
OUT_OF_STOCK = {"order_id": "ord-1", "status": "out_of_stock", "detail": "out of stock: S1"}


@pytest.mark.parametrize(
    ("answers", "until", "reason", "undone"),
    [
        ({"load_profile": Fail()}, through("load_profile"), "profile unavailable", []),
        ({"recommend": Fail()}, through("recommend"), "recommendation failed", ["release_quote"]),
        ({"safety_gate": Fail()}, through("safety_gate"), "safety_gate failed", ["release_quote"]),
        (
            # The slot was held at the same time: it is given back too.
            {"reserve_inventory": OUT_OF_STOCK},
            UP_TO_HOLDS,
            "out of stock: S1",
            ["release_delivery_slot", "release_quote"],
        ),
        (
            {"hold_delivery_slot": Fail()},
            through("hold_delivery_slot"),
            "hold_delivery_slot failed",
            ["release_inventory", "release_quote"],
        ),
        ({"place_order": Fail()}, [*UP_TO_HOLDS, "place_order"], "place_order failed", UNDO_ALL),
    ],
    ids=["profile", "recommend", "safety_gate", "out_of_stock", "slot", "place_order"],
)
def test_a_step_that_keeps_failing_fails_the_run_after_undoing_what_was_done(
    go, answers, until, reason, undone
):
    ctx, result = go(**answers)

    assert ctx.sequence == [*until, COMPENSATING, *undone, *DONE]
    assert result == {"status": "failed", "order_id": "ord-1", "reason": reason}
    record = ctx.records[-1]
    assert record["status"] == "failed"
    failed = [s["step"] for s in record["steps"] if s["status"] == "failed"]
    assert failed == list(answers)  # the step that kept failing, and only it
    assert record["steps"][-1]["step"] == "compensation"
    assert record["compensations"] == undone
    assert OrderCompensated.model_validate(event_of(ctx, "order.compensated")).status == "failed"


# ----------------------------------------------------------------------------- degraded
def test_a_failing_branch_degrades_the_run_and_the_rest_goes_on(go):
    ctx, result = go(vendor_eta=Fail(), recommend={**SMALL, "degraded": True})

    assert ctx.sequence == [*UP_TO_HOLDS, "place_order", *DONE]
    assert result["status"] == "completed"
    record = ctx.records[-1]
    assert record["degraded_branches"] == ["vendor_eta", "recommend"]
    assert record["steps"][1] == {**record["steps"][1], "detail": "degraded: vendor_eta"}
    assert ctx.inputs("recommend")[0]["degraded_branches"] == ["vendor_eta"]
    assert ctx.inputs("reserve_inventory")[0]["vendor_etas"] == {}
    assert event_of(ctx, "order.completed")["degraded_branches"] == ["vendor_eta", "recommend"]


def test_a_quote_that_failed_has_nothing_to_release(go):
    reject = {"decision": "reject", "approver": "alice"}
    ctx, result = go(event=reject, recommend=BIG, price_quote=Fail())

    assert result["status"] == "rejected"
    assert ctx.sequence[-4:] == [COMPENSATING, *UNDO_ALL[:2], *DONE]
    assert ctx.records[-1]["side_effects"] == HELD
    assert ctx.inputs("recommend")[0]["discount_pct"] == 0.0


# ----------------------------------------------------------------------------- stuck
def test_a_stuck_undo_fails_the_run_alerts_and_still_undoes_the_rest(go):
    reject = {"decision": "reject", "approver": "alice"}
    ctx, result = go(event=reject, recommend=BIG, release_inventory=Fail("store down"))

    assert ctx.sequence == [
        *UP_TO_HOLDS,
        *ASK,
        *CLOSED,
        COMPENSATING,
        *UNDO_ALL,
        "finish_run",  # the record, then the alert, then order.compensated
    ]
    reason = "rejected by alice; compensation stuck at release_inventory"
    assert result == {"status": "failed", "order_id": "ord-1", "reason": reason}
    record = ctx.records[-1]
    assert record["compensations"] == ["release_delivery_slot", "release_quote"]
    assert record["steps"][-1] == {
        **record["steps"][-1],
        "step": "compensation",
        "status": "failed",
    }
    assert [t for t, _ in ctx.published] == [
        "order.approval_requested",
        "order.approval_closed",
        "order.alert",
        "order.compensated",
    ]
    alert = OrderAlert.model_validate(event_of(ctx, "order.alert"))
    assert (alert.stuck_step, alert.attempts) == ("release_inventory", 4)
    assert "store down" in alert.error


def test_undo_steps_the_host_switched_off_are_skipped_not_run(go):
    host = settings(compensate_release_quote=False)
    ctx, result = go(full_input(disabled_undo=["release_quote"]), host=host)

    assert result["status"] == "completed"
    ctx, result = go(full_input(disabled_undo=["release_quote"]), host=host, place_order=Fail())
    assert ctx.sequence[-4:] == [COMPENSATING, *UNDO_ALL[:2], *DONE]
    assert ctx.records[-1]["skipped_compensations"] == ["release_quote"]


# ----------------------------------------------------------------------------- fault injection
REFUSED = [
    full_input(faults={"fail_branches": ["vendor_eta"]}),
    full_input(faults={"fail_undo": ["release_inventory"]}),
    full_input(disabled_undo=["release_inventory"]),
]


@pytest.mark.parametrize("raw", REFUSED, ids=["fail_branches", "fail_undo", "disabled_undo"])
def test_fault_injection_is_refused_unless_the_host_allows_it(monkeypatch, raw):
    monkeypatch.setattr(workflow, "get_settings", settings)
    ctx = FakeOrchestrationContext(answering())
    with pytest.raises(workflow.InputRefused) as refused:
        drive(workflow.snacktopus, ctx, raw)

    assert ctx.sequence == ["save_run", COMPENSATING, *DONE]
    record = ctx.records[-1]
    assert (record["status"], record["reason"]) == ("failed", str(refused.value))
    assert "fault injection is disabled" in record["reason"]
    assert event_of(ctx, "order.compensated")["status"] == "failed"


def test_fault_injection_runs_when_the_host_allows_it(go):
    raw = full_input(faults={"fail_branches": ["vendor_eta"], "fail_undo": ["release_inventory"]})
    ctx, result = go(raw, host=settings(allow_fault_injection=True), recommend=BIG)

    assert result["status"] == "timed_out"
    assert {n: ctx.inputs(n)[0]["fail"] for n in BRANCHES} == {
        "catalog_lookup": False,
        "nutrition_and_allergens": False,
        "price_quote": False,
        "vendor_eta": True,
    }
    assert {n: ctx.inputs(n)[0]["fail"] for n in UNDO_ALL} == {
        "release_delivery_slot": False,
        "release_inventory": True,
        "release_quote": False,
    }


def test_a_bare_order_takes_the_hosts_toggles_and_is_not_refused(go):
    host = settings(compensate_release_quote=False, approval_timeout_s=7)
    ctx, result = go({**ORDER, "approval_timeout_s": 9}, host=host, recommend=BIG)

    assert result == {
        "status": "timed_out",
        "order_id": "ord-1",
        "reason": "no approval within 9 s",
    }
    assert ctx.records[-1]["skipped_compensations"] == ["release_quote"]


def test_an_invalid_input_fails_the_instance_before_any_step(go):
    with pytest.raises(ValueError, match=r"invalid order input: order\.headcount"):
        go(full_input(order={**ORDER, "headcount": 0}))
    with pytest.raises(ValueError, match="expected a JSON object"):
        go(["not", "an", "order"])


# ----------------------------------------------------------------------------- the wire
def test_activity_inputs_keep_their_keys_in_order_on_the_wire(go):
    """History keeps these inputs and workers of the previous release read them."""
    ctx, _ = go(event={"decision": "reject", "approver": "alice"}, recommend=BIG)
    keys = {c.name: list(c.input) for c in ctx.calls if c.kind == "activity"}
    order_keys = ["order_id", "traceparent", "order", "profile"]
    assert keys == {
        "save_run": ["record"],
        "load_profile": ["order_id", "traceparent", "user_id"],
        **{b: [*order_keys, "fail"] for b in BRANCHES},
        "recommend": [
            *order_keys,
            "candidates",
            "available",
            "excluded_allergens",
            "discount_pct",
            "degraded_branches",
        ],
        "safety_gate": [*order_keys, "basket", "agent_flags"],
        **{h: ["order_id", "traceparent", "basket", "vendor_etas"] for h in HELD},
        **{u: ["order_id", "traceparent", "reason", "fail"] for u in UNDO_ALL},
        "publish_event": ["topic", "data", "traceparent"],
        "finish_run": ["record", "events"],
    }
    ctx, _ = go(event=APPROVE, recommend=BIG)
    (place,) = ctx.inputs("place_order")
    assert list(place) == ["order_id", "traceparent", "user_id", "basket", "approver"]


def test_the_sdk_hands_each_activity_the_model_it_declares():
    models = {fn.__name__: _model_protocol.resolve_input(fn)[1] for fn in ACTIVITIES}
    assert {name: model and model.__name__ for name, model in models.items()} == {
        "load_profile": "ProfileInput",
        **dict.fromkeys(BRANCHES, "BranchInput"),
        "recommend": "RecommendInput",
        "safety_gate": "SafetyInput",
        **dict.fromkeys(HELD, "BasketInput"),
        "place_order": "PlaceInput",
        **dict.fromkeys(UNDO_ALL, "UndoInput"),
        "save_run": "SaveRunInput",
        "publish_event": "PublishInput",
        "finish_run": "FinishInput",
    }


def test_a_record_from_a_newer_release_reads_but_is_not_saved_as_is(monkeypatch):
    """A roll has two releases reading each other's run records: the API reads one with
    fields it does not know (the previous release answered 500 to it); a save of one by a
    worker of the older release is refused, so the task goes to a newer worker."""
    from pydantic import ValidationError
    from workflow_host import activities, approvals

    ctx, _ = go_once(monkeypatch)
    newer = {**ctx.records[-1], "lane": "express"}
    newer["approval"] = {**newer["approval"], "quorum": "any-two"}

    class Store:
        def get(self, key):
            return newer, "1"

    monkeypatch.setattr(approvals.store, "state", Store)
    record = approvals.load_run("ord-1")
    assert (record.order_id, record.status) == ("ord-1", "completed")
    with pytest.raises(ValidationError, match="lane"):
        activities.SaveRunInput.model_validate({"record": newer})


def go_once(monkeypatch):
    monkeypatch.setattr(workflow, "get_settings", settings)
    ctx = FakeOrchestrationContext(answering())
    return ctx, drive(workflow.snacktopus, ctx, full_input())
