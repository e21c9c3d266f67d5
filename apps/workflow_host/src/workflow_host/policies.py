"""The approval phase with its policies, and the notices it publishes on the way.

Runs that reach the approval phase on this code take this path (``ctx.is_patched(PATCH)``);
a run that was already waiting when it was deployed replays on the single-decision path
in :mod:`workflow_host.workflow`, as it ran. Policies (captured in the run's input, so a
settings change never moves a run in flight):

- four eyes: above ``DUAL_APPROVAL_USD`` two different approvers must approve; one
  rejection (or a cancel, or an expire) ends the wait;
- no self-approval: the requester's own approval is never counted (the API refuses it
  first, 403; this is the workflow keeping the rule for any other path to the event);
- escalation: undecided after ``APPROVAL_ESCALATE_AFTER_S``, the escalation group is
  notified and may decide from then on; the deadline still times the run out.

Notifications are events (``order.approval_requested``, ``order.approval_reminder``,
``order.approval_closed``): the workflow only publishes them, off the critical path;
:mod:`workflow_host.notify` delivers them. Deterministic like the rest of the workflow:
time is ``ctx.current_utc_datetime``, every timer is an absolute instant derived from it.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import dapr.ext.workflow as wf
from pydantic import BaseModel, ConfigDict, Field
from snacktopus_core.events import (
    TOPIC_APPROVAL_CLOSED,
    TOPIC_APPROVAL_REMINDER,
    TOPIC_APPROVAL_REQUESTED,
    ApprovalClosed,
    ApprovalReminder,
    ApprovalRequested,
    BasketSummaryLine,
)

from workflow_host.runs import Approval, ApprovalDecision, Vote
from workflow_host.settings import WorkflowSettings

# The is_patched name of the approval phase with policies and notifications.
PATCH = "approval-policies-v1"
APPROVAL_EVENT = "humanApproval"
CONSOLE_PATH = "/console/orders/{order_id}"
Steps = Generator[Any, Any, Any]


class ApprovalPolicy(BaseModel):
    """The policies of one run, captured when it starts (None: that policy is off)."""

    model_config = ConfigDict(extra="forbid")

    dual_approval_usd: float | None = Field(default=None, ge=0)
    escalate_after_s: float | None = Field(default=None, gt=0)
    escalation_group: list[str] = []
    remind_before_s: float | None = Field(default=None, gt=0)
    console_base_url: str = ""

    @classmethod
    def of(cls, settings: WorkflowSettings) -> ApprovalPolicy:
        return cls(
            dual_approval_usd=settings.dual_approval_usd,
            escalate_after_s=settings.approval_escalate_after_s,
            escalation_group=[g.lower() for g in settings.approval_escalation_group],
            remind_before_s=settings.approval_remind_before_s,
            console_base_url=settings.console_base_url.rstrip("/"),
        )

    def approvals_needed(self, total_usd: float) -> int:
        dual = self.dual_approval_usd
        return 2 if dual is not None and total_usd > dual else 1

    def milestones(self, requested: datetime, deadline: datetime) -> list[tuple[datetime, str]]:
        """The nudges before the deadline, earliest first: escalation, reminder."""
        out = []
        if self.escalate_after_s is not None:
            out.append((requested + timedelta(seconds=self.escalate_after_s), "escalation"))
        if self.remind_before_s is not None:
            out.append((deadline - timedelta(seconds=self.remind_before_s), "reminder"))
        return sorted(m for m in out if requested < m[0] < deadline)


def approval(run: Any, requested: datetime) -> Generator[Any, Any, ApprovalDecision | None]:
    """Waits for the decision the policies need; returns it (None: the deadline passed).
    ``run`` is the workflow's :class:`~workflow_host.workflow.Run`."""
    policy: ApprovalPolicy = run.inp.policy
    deadline = requested + timedelta(seconds=run.inp.approval_timeout_s)
    run.record.approval = Approval(
        required=True,
        requested_at=requested,
        deadline=deadline,
        required_approvals=policy.approvals_needed(run.record.total_usd),
        escalation_group=policy.escalation_group,
    )
    yield run.save("awaiting_approval", "awaiting_approval")
    yield run.publish(TOPIC_APPROVAL_REQUESTED, requested_notice(run))
    decision = yield from _wait(run, policy, requested, deadline)
    stamp_decided(run.record.approval, run.now, requested)
    yield run.publish(TOPIC_APPROVAL_CLOSED, closed_notice(run, decision))
    return decision


def stamp_decided(approval: Approval, now: datetime, requested: datetime) -> None:
    approval.decided_at = now
    approval.wait_s = round((now - requested).total_seconds(), 3)


def _wait(
    run: Any, policy: ApprovalPolicy, requested: datetime, deadline: datetime
) -> Generator[Any, Any, ApprovalDecision | None]:
    """The race of decisions against the deadline, with the nudges between. One event
    task and one deadline timer for the whole wait; a nudge's timer is made when it is
    next, so a replay asks for the same timers in the same order."""
    milestones = policy.milestones(requested, deadline)
    event = run.ctx.wait_for_external_event(APPROVAL_EVENT)
    timeout = run.ctx.create_timer(deadline)
    nudge = None
    while True:
        if nudge is None and milestones:
            nudge = run.ctx.create_timer(milestones[0][0])
        winner = yield wf.when_any([event, *([nudge] if nudge else []), timeout])
        if winner is timeout:
            return None
        if winner is nudge:
            nudge = None
            yield from _nudge(run, milestones.pop(0)[1])
            continue
        decision = _vote(event.get_result())
        if (yield from _counts(run, decision)):
            return decision
        event = run.ctx.wait_for_external_event(APPROVAL_EVENT)  # the next vote


def _vote(payload: Any) -> ApprovalDecision:
    try:
        return ApprovalDecision.model_validate(payload)
    except ValueError:
        return ApprovalDecision(decision="reject", approver="invalid-event")


def _counts(run: Any, decision: ApprovalDecision) -> Generator[Any, Any, bool]:
    """Records a vote; says whether the wait is over. Anything but an approval ends it;
    approvals end it once enough different people (never the requester) gave one."""
    approval = run.record.approval
    who = decision.approver.lower()
    approvers = {v.approver for v in approval.votes if v.decision == "approve"}
    if decision.decision == "approve" and (who == run.order.user_id.lower() or who in approvers):
        why = "the requester" if who == run.order.user_id.lower() else "already approved"
        run.step("approval_vote", run.now, "skipped", f"{who}: {why}, not counted")
        return False
    approval.votes.append(
        Vote(approver=who, decision=decision.decision, at=run.now, comment=decision.comment)
    )
    if decision.decision != "approve" or len(approvers) + 1 >= approval.required_approvals:
        return True
    run.step("approval_vote", run.now, detail=f"approved by {who}, 1 of 2")
    yield run.save("awaiting_approval", "awaiting_approval")
    return False


def _nudge(run: Any, reason: str) -> Steps:
    if reason == "escalation":
        run.record.approval.escalated_at = run.now
        run.step("approval_escalated", run.now, detail=",".join(run.inp.policy.escalation_group))
        yield run.save("awaiting_approval", "awaiting_approval")
    yield run.publish(TOPIC_APPROVAL_REMINDER, reminder_notice(run, reason))


def merged(decision: ApprovalDecision, approval: Approval) -> ApprovalDecision:
    """The decision the run goes on with: an approval names everyone who approved."""
    if decision.decision != "approve":
        return decision
    who = ",".join(v.approver for v in approval.votes if v.decision == "approve")
    return decision.model_copy(update={"approver": who})


# ----------------------------------------------------------------------------- notices
def _common(run: Any, suffix: str) -> dict[str, Any]:
    rec, approval = run.record, run.record.approval
    return {
        "order_id": rec.order_id,
        "user_id": rec.user_id,
        "total_usd": rec.total_usd,
        "deadline": approval.deadline,
        "console_url": run.inp.policy.console_base_url + CONSOLE_PATH.format(order_id=rec.order_id),
        "required_approvals": approval.required_approvals,
        "approved_by": [v.approver for v in approval.votes if v.decision == "approve"],
        "trace_id": rec.trace_id,
        "event_id": f"{rec.order_id}:{suffix}",
        "occurred_at": run.now,
    }


def requested_notice(run: Any) -> ApprovalRequested:
    rec = run.record
    lines = [
        BasketSummaryLine(
            name=line.name,
            quantity=line.quantity,
            line_total_usd=line.line_total_usd,
            allergens=list(line.allergens),
        )
        for line in (rec.basket.lines if rec.basket else [])
    ]
    return ApprovalRequested(
        **_common(run, "approval_requested"),
        basket=lines,
        safety_flags=rec.safety_flags,
        degraded_branches=rec.degraded_branches,
    )


def reminder_notice(run: Any, reason: str) -> ApprovalReminder:
    audience = "escalation" if reason == "escalation" else "approvers"
    return ApprovalReminder(**_common(run, f"approval_{reason}"), reason=reason, audience=audience)


def closed_notice(run: Any, decision: ApprovalDecision | None) -> ApprovalClosed:
    outcomes = {"approve": "approved", "reject": "rejected", "cancel": "cancelled"}
    outcome = outcomes.get(decision.decision, "timed_out") if decision else "timed_out"
    return ApprovalClosed(
        **_common(run, "approval_closed"),
        outcome=outcome,
        decided_by=decision.approver.lower() if decision else None,
    )
