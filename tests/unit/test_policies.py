"""The approval policies and notices (workflow_host.policies), driven through the real
``snacktopus`` orchestrator by the fake orchestration context; and the API-side checks of
workflow_host.approvals. No stack."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from snacktopus_core.errors import NotWaiting, PolicyRefused
from snacktopus_core.events import ApprovalClosed, ApprovalReminder, ApprovalRequested
from workflow_host import approvals, policies
from workflow_host.runs import RunRecord
from workflow_host.workflow import LEAN, WorkflowInput

from tests.unit.test_workflow import (
    ASK,
    BIG,
    CLOSED,
    COMPENSATING,
    DONE,
    OLD_ASK,
    OLD_DONE,
    ORDER,
    UNDO_ALL,
    UP_TO_HOLDS,
    full_input,
    go,  # noqa: F401 (fixture)
    settings,
)
from tests.unit.workflow_fake import TIMER

APPROVE = {"decision": "approve", "approver": "alice"}
BOB = {"decision": "approve", "approver": "bob"}
CONSOLE = "http://console.test"


@pytest.fixture
def run(go):  # noqa: F811 (the fixture imported above)
    """test_workflow's ``go``: one run driven to its end on the fake context."""
    return go


def with_policy(**policy: Any) -> dict[str, Any]:
    return full_input(policy={"console_base_url": CONSOLE, **policy})


def topics(ctx) -> list[str]:
    return [t for t, _ in ctx.published]


def notice(ctx, topic: str, n: int = 0) -> dict[str, Any]:
    return [d for t, d in ctx.published if t == topic][n]


# ----------------------------------------------------------------------------- versioning
def test_a_history_from_before_the_patch_replays_the_single_decision_path(run):
    """A run that was waiting when the policies were deployed: its history has no patch,
    so the replay asks for exactly what it asked before (one wait, a relative timer, no
    notices) even where today's input would ask for four eyes."""
    ctx, result = run(
        with_policy(dual_approval_usd=10), event=APPROVE, recommend=BIG, patched=False
    )

    assert ctx.patches == [LEAN, policies.PATCH]
    assert ctx.sequence == [*UP_TO_HOLDS, *OLD_ASK, "save_run", "place_order", *OLD_DONE]
    assert [c.fire_at for c in ctx.calls if c.kind == "timer"] == [timedelta(seconds=300)]
    assert result["status"] == "completed"
    assert topics(ctx) == ["order.completed"]
    approval = ctx.records[-1]["approval"]
    assert (approval["approver"], approval["votes"], approval["deadline"]) == ("alice", [], None)


def test_the_same_run_on_the_patched_path_asks_for_two_approvers(run):
    ctx, result = run(with_policy(dual_approval_usd=10), events=[APPROVE, BOB], recommend=BIG)

    assert result["status"] == "completed"
    assert topics(ctx)[:2] == ["order.approval_requested", "order.approval_closed"]


def test_inputs_from_before_the_policies_parse_with_every_policy_off():
    inp = WorkflowInput.parse(full_input(), settings(dual_approval_usd=1))
    assert inp.policy == policies.ApprovalPolicy()
    captured = WorkflowInput.parse(
        dict(ORDER), settings(dual_approval_usd=75, approval_escalation_group=["Olga"])
    )
    assert (captured.policy.dual_approval_usd, captured.policy.escalation_group) == (75, ["olga"])


# ----------------------------------------------------------------------------- four eyes
def test_four_eyes_needs_two_different_approvers(run):
    again = {**APPROVE, "comment": "me again"}
    ctx, result = run(
        with_policy(dual_approval_usd=50), events=[APPROVE, again, BOB], recommend=BIG
    )

    assert result["status"] == "completed"
    waiting = [r for r in ctx.records if r["status"] == "awaiting_approval"]
    assert waiting[0]["approval"]["required_approvals"] == 2
    assert [v["approver"] for v in waiting[-1]["approval"]["votes"]] == ["alice"]
    record = ctx.records[-1]
    assert [v["approver"] for v in record["approval"]["votes"]] == ["alice", "bob"]
    assert record["approval"]["approver"] == "alice,bob"
    skipped = [s for s in record["steps"] if s["status"] == "skipped"]
    assert [s["detail"] for s in skipped] == ["alice: already approved, not counted"]
    assert ctx.inputs("place_order")[0]["approver"] == "alice,bob"
    closed = ApprovalClosed.model_validate(notice(ctx, "order.approval_closed"))
    assert (closed.outcome, closed.approved_by) == ("approved", ["alice", "bob"])


def test_four_eyes_ends_on_one_rejection(run):
    reject = {"decision": "reject", "approver": "bob", "comment": "no"}
    ctx, result = run(with_policy(dual_approval_usd=50), events=[APPROVE, reject], recommend=BIG)

    assert result == {"status": "rejected", "order_id": "ord-1", "reason": "rejected by bob: no"}
    assert ctx.records[-1]["compensations"] == UNDO_ALL
    assert notice(ctx, "order.approval_closed")["outcome"] == "rejected"


def test_under_the_dual_threshold_one_approval_is_enough(run):
    ctx, result = run(with_policy(dual_approval_usd=100), event=APPROVE, recommend=BIG)

    assert ctx.sequence == [*UP_TO_HOLDS, *ASK, *CLOSED, "save_run", "place_order", *DONE]
    assert result["status"] == "completed"


# ----------------------------------------------------------------------------- self-approval
def test_the_requesters_own_approval_is_not_counted(run):
    own = {"decision": "approve", "approver": "U1"}  # ORDER's user_id is u1
    ctx, result = run(with_policy(), events=[own, APPROVE], recommend=BIG)

    assert result["status"] == "completed"
    record = ctx.records[-1]
    assert [v["approver"] for v in record["approval"]["votes"]] == ["alice"]
    assert "u1: the requester, not counted" in [s["detail"] for s in record["steps"]]


# ----------------------------------------------------------------------------- escalation
def test_escalation_notifies_the_group_which_then_decides(run):
    olga = {"decision": "approve", "approver": "olga"}
    policy = with_policy(escalate_after_s=60, escalation_group=["olga"])
    ctx, result = run(policy, events=[TIMER, olga], recommend=BIG)

    assert result["status"] == "completed"
    assert topics(ctx)[:3] == [
        "order.approval_requested",
        "order.approval_reminder",
        "order.approval_closed",
    ]
    escalated = ApprovalReminder.model_validate(notice(ctx, "order.approval_reminder"))
    assert (escalated.reason, escalated.audience) == ("escalation", "escalation")
    requested = datetime.fromisoformat(ctx.records[-1]["approval"]["requested_at"])
    timers = [c.fire_at for c in ctx.calls if c.kind == "timer"]
    assert timers == [requested + timedelta(seconds=300), requested + timedelta(seconds=60)]
    record = ctx.records[-1]
    assert record["approval"]["escalated_at"] is not None
    assert record["approval"]["approver"] == "olga"


def test_nobody_decides_reminded_escalated_then_the_timeout_still_compensates(run):
    policy = with_policy(escalate_after_s=60, escalation_group=["olga"], remind_before_s=100)
    ctx, result = run(policy, recommend=BIG)

    assert result == {
        "status": "timed_out",
        "order_id": "ord-1",
        "reason": "no approval within 300 s",
    }
    assert topics(ctx) == [
        "order.approval_requested",
        "order.approval_reminder",  # escalation at 60 s
        "order.approval_reminder",  # reminder at 200 s
        "order.approval_closed",
        "order.compensated",
    ]
    reasons = [notice(ctx, "order.approval_reminder", n)["reason"] for n in (0, 1)]
    assert reasons == ["escalation", "reminder"]
    assert notice(ctx, "order.approval_closed")["outcome"] == "timed_out"
    assert ctx.records[-1]["compensations"] == UNDO_ALL
    assert ctx.sequence[-len(UNDO_ALL) - 2 :] == [COMPENSATING, *UNDO_ALL, *DONE]


def test_a_nudge_after_the_deadline_is_never_scheduled():
    p = policies.ApprovalPolicy(escalate_after_s=400, remind_before_s=500)
    now = datetime(2026, 1, 1)
    assert p.milestones(now, now + timedelta(seconds=300)) == []


# ----------------------------------------------------------------------------- the notice
def test_the_request_notice_summarises_without_any_token(run):
    ctx, _ = run(with_policy(), event=APPROVE, recommend=BIG)

    data = notice(ctx, "order.approval_requested")
    requested = ApprovalRequested.model_validate(data)
    assert requested.console_url == f"{CONSOLE}/console/orders/ord-1"
    assert (requested.total_usd, requested.user_id) == (80.0, "u1")
    assert [(b.name, b.quantity) for b in requested.basket] == [("Rice crackers", 2)]
    assert requested.deadline == datetime.fromisoformat(ctx.records[-1]["approval"]["deadline"])
    assert requested.event_id == "ord-1:approval_requested"
    assert not any("token" in key for key in data)


# ----------------------------------------------------------------------------- API side
def _record(**approval: Any) -> RunRecord:
    now = datetime(2026, 1, 1)
    return RunRecord.model_validate(
        {
            "order_id": "ord-1",
            "user_id": "u1",
            "request": ORDER,
            "status": "awaiting_approval",
            "started_at": now,
            "updated_at": now,
            "approval": {"required": True, **approval},
        }
    )


def _decision(approver: str, decision: str = "approve"):
    return approvals.ApprovalDecision(decision=decision, approver=approver)


def test_the_api_refuses_the_requesters_own_approval_and_an_early_escalation():
    with pytest.raises(PolicyRefused, match="cannot approve their own order"):
        approvals.check_policies(_record(), _decision("U1"))
    approvals.check_policies(_record(), _decision("u1", "cancel"))  # withdrawing is fine
    with pytest.raises(PolicyRefused, match="once it escalates"):
        approvals.check_policies(_record(escalation_group=["olga"]), _decision("olga"))
    late = _record(escalation_group=["olga"], escalated_at=datetime(2026, 1, 1))
    approvals.check_policies(late, _decision("olga"))


@pytest.fixture
def claims(monkeypatch):
    """The decision keys in a dict: a stand-in for the state store (create-only writes)."""
    held: dict[str, Any] = {}

    def create_or_get(key: str, value: Any):
        if key in held:
            return held[key], False
        held[key] = value
        return value, True

    class Store:
        pass

    Store.create_or_get = staticmethod(create_or_get)
    monkeypatch.setattr(approvals.store, "state", Store)
    return held


def claim(record: RunRecord, approver: str, decision: str = "approve") -> None:
    approvals._claim("ord-1", record, {"decision": decision, "approver": approver})


def test_four_eyes_claims_a_second_slot_for_a_different_approver_only(claims):
    four = _record(required_approvals=2)
    claim(four, "alice")
    with pytest.raises(NotWaiting, match="a second, different approver"):
        claim(four, "Alice")
    claim(four, "bob")
    assert set(claims) == {"decision:ord-1", "decision:ord-1:2"}
    with pytest.raises(NotWaiting, match="already has a decision"):
        claim(four, "carol")


def test_one_approver_decides_once_and_a_rejection_ends_four_eyes(claims):
    claim(_record(), "alice")
    with pytest.raises(NotWaiting, match="already has a decision: approve by alice"):
        claim(_record(), "bob")
    four = _record(required_approvals=2)
    claims.clear()
    claim(four, "alice", "reject")
    with pytest.raises(NotWaiting, match="reject by alice"):
        claim(four, "bob")
