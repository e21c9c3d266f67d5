"""Who may decide an order, as the console shows it, and the approvals a run record holds.

The workflow and ``approvals.decide`` stay the authority (a decision they refuse is refused
whatever the console shows); this module decides what buttons an approver sees and refuses
in the console what no approver should do: approve their own order, or approve twice.

A run on the approval-policies path records every vote (``approval.votes``: who, what,
when) and how many approvals it needs (``approval.required_approvals``, 2 above
``DUAL_APPROVAL_USD``): shown as "1 of 2 approvals" with each approver's line. A run from
before the policies has one decision on ``approval`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from snacktopus_core.errors import Forbidden

from workflow_host.runs import RunRecord


@dataclass(frozen=True)
class ApprovalEntry:
    approver: str
    decision: str
    decided_at: datetime | str | None
    comment: str | None


@dataclass(frozen=True)
class ApprovalState:
    required: bool
    needed: int
    entries: list[ApprovalEntry]

    @property
    def approved(self) -> int:
        return sum(1 for e in self.entries if e.decision == "approve")

    @property
    def summary(self) -> str:
        if not self.required:
            return "no approval needed (under the threshold)"
        noun = "approval" if self.needed == 1 else "approvals"
        return f"{self.approved} of {self.needed} {noun}"


def approval_state(run: RunRecord) -> ApprovalState:
    return approval_state_of(run.model_dump()["approval"])


def approval_state_of(approval: dict[str, Any]) -> ApprovalState:
    """From a run record's ``approval``, one decision or several."""
    votes = approval.get("votes")
    if votes:
        entries = [
            ApprovalEntry(v["approver"], v["decision"], v.get("at"), v.get("comment"))
            for v in votes
        ]
    elif approval.get("decision"):
        entries = [ApprovalEntry(**{k: approval.get(k) for k in _FIELDS})]
    else:
        entries = []
    needed = int(approval.get("required_approvals") or 1)
    return ApprovalState(required=bool(approval.get("required")), needed=needed, entries=entries)


_FIELDS = ("approver", "decision", "decided_at", "comment")


def refusal(run: RunRecord | None, approver: str) -> str | None:
    """Why ``approver`` may not decide this order now, or None when they may."""
    if run is None:
        return "this order has not reached its approval step yet"
    if run.status != "awaiting_approval":
        return f"this order is {run.status.replace('_', ' ')}: there is nothing to decide"
    if approver == run.user_id:
        return "you asked for this order: another approver decides it"
    if any(e.approver == approver for e in approval_state(run).entries):
        return "you already decided this order: it waits for another approver"
    return None


def check_may_decide(run: RunRecord | None, approver: str) -> None:
    """Forbidden (403) for what policy refuses; an order that is no longer waiting is left
    to ``approvals.decide``, whose 409 says who decided it."""
    reason = refusal(run, approver)
    if run is not None and run.status == "awaiting_approval" and reason:
        raise Forbidden(reason)
