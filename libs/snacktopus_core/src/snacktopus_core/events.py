"""Versioned schemas of every event Snacktopus publishes (the ``data`` of a CloudEvent).

Consumers check payloads against these models or the JSON Schema files exported from
them under ``docs/events/`` (``tools/export_schemas.py``). A breaking change bumps
``schema_version``; additive fields keep it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from snacktopus_core.models import Basket, UtcDatetime, utcnow

TOPIC_ORDER_COMPLETED = "order.completed"
TOPIC_ORDER_COMPENSATED = "order.compensated"
TOPIC_ORDER_ALERT = "order.alert"
TOPIC_SAFETY_FLAGGED = "agent.safety_flagged"
TOPIC_EVALUATED = "agent.evaluated"
# The approval notifications (workflow-host's notifier mails and posts them to approvers).
TOPIC_APPROVAL_REQUESTED = "order.approval_requested"
TOPIC_APPROVAL_REMINDER = "order.approval_reminder"
TOPIC_APPROVAL_CLOSED = "order.approval_closed"

# The statuses a run ends in (a cancelled order ends ``rejected``). Published with the other
# run statuses by snacktopus_core.contracts (``RunStatus``, ``TERMINAL``); it lives here
# because contracts imports this module, so events may not import contracts.
TerminalStatus = Literal["completed", "blocked", "rejected", "timed_out", "failed"]


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    event_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    occurred_at: datetime = Field(default_factory=utcnow)
    trace_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")


class SafetyFlag(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal[
        "allergen_conflict",
        "over_budget",
        "prompt_injection",
        "off_topic",
        "personal_data",
        "too_long",
        "ungrounded",
        "blocked_item",
        "diet_conflict",
        "model_opinion",
        "false_safety",
        "dropped_sentence",
        "model_unavailable",
    ]
    severity: Literal["block", "warn"]
    detail: str = Field(max_length=500)
    # What the flag is about. A ``model_text`` flag judges the model's words (dropped
    # before a person sees them), never the basket, which the tools computed.
    scope: Literal["request", "basket", "model_text"] | None = None


class OrderCompleted(Event):
    order_id: str
    user_id: str
    status: Literal["completed"] = "completed"
    total_usd: float
    basket: Basket
    degraded_branches: list[str] = []
    approval: Literal["auto", "approved"] = "auto"
    approver: str | None = None


class OrderCompensated(Event):
    order_id: str
    user_id: str
    status: Literal["blocked", "rejected", "timed_out", "failed", "cancelled"]
    reason: str = Field(max_length=500)
    total_usd: float
    compensations: list[str] = Field(description="Undo steps run, in the order they ran.")
    skipped_compensations: list[str] = []
    degraded_branches: list[str] = []
    safety_flags: list[SafetyFlag] = []
    approver: str | None = None


class OrderAlert(Event):
    """A run that needs a human: an undo step that kept failing, named here."""

    order_id: str
    status: Literal["failed"] = "failed"
    stuck_step: str = Field(description="The first undo step that kept failing.")
    stuck_steps: list[str] = Field(description="Every undo step that kept failing.")
    error: str = Field(max_length=1000)
    attempts: int


class BasketSummaryLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    quantity: int
    line_total_usd: float
    allergens: list[str] = []


class ApprovalNotice(Event):
    """What every approval notification carries: enough to decide whether to open the
    console, never a credential (approvers sign in with their own token there)."""

    order_id: str
    user_id: str = Field(description="Who asked: the one person who may not approve it.")
    total_usd: float
    deadline: UtcDatetime = Field(description="When the order times out and is compensated.")
    console_url: str = Field(description="The order's page in the approver console.")
    audience: Literal["approvers", "escalation"] = "approvers"
    required_approvals: int = Field(default=1, ge=1, le=2)
    approved_by: list[str] = Field(default=[], description="Approvals so far (four eyes).")


class ApprovalRequested(ApprovalNotice):
    """A run started waiting for a human."""

    basket: list[BasketSummaryLine] = Field(max_length=50)
    safety_flags: list[SafetyFlag] = []
    degraded_branches: list[str] = []


class ApprovalReminder(ApprovalNotice):
    """Still waiting: a reminder before the deadline (``reason=reminder``, to the
    approvers), or the escalation (``reason=escalation``, to the escalation group, which
    may decide from now on)."""

    reason: Literal["reminder", "escalation"]


class ApprovalClosed(ApprovalNotice):
    """The final notice: the wait is over, decided or timed out."""

    outcome: Literal["approved", "rejected", "cancelled", "timed_out"]
    decided_by: str | None = None


class SafetyFlagged(Event):
    user_id: str
    session_id: str | None = None
    order_id: str | None = None
    source: Literal["ask", "recommend", "safety"] = "ask"
    verdict: Literal["block", "warn"]
    flags: list[SafetyFlag]


class Evaluated(Event):
    user_id: str
    session_id: str | None = None
    order_id: str | None = None
    source: Literal["ask", "recommend"] = "ask"
    grounded: bool
    degraded: bool
    score: float = Field(ge=0, le=1)
    flags: list[SafetyFlag] = []
    model: str | None = None
    explanation_source: Literal["model", "template"] | None = None
    model_sentences: int = Field(default=0, ge=0)
    kept_sentences: int = Field(default=0, ge=0)
    false_safety_claims: int = Field(default=0, ge=0)


SCHEMAS: dict[str, type[Event]] = {
    TOPIC_ORDER_COMPLETED: OrderCompleted,
    TOPIC_ORDER_COMPENSATED: OrderCompensated,
    TOPIC_ORDER_ALERT: OrderAlert,
    TOPIC_SAFETY_FLAGGED: SafetyFlagged,
    TOPIC_EVALUATED: Evaluated,
    TOPIC_APPROVAL_REQUESTED: ApprovalRequested,
    TOPIC_APPROVAL_REMINDER: ApprovalReminder,
    TOPIC_APPROVAL_CLOSED: ApprovalClosed,
}
