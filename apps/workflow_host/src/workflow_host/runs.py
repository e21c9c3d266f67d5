"""The run record of one ``snacktopus`` order: what a person or a test reads to know where
an order is and what happened to it. Saved in the ``orderstate`` store under ``run:<id>``
and kept current by the workflow at each phase."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from snacktopus_core.contracts import TERMINAL, RunStatus
from snacktopus_core.events import SafetyFlag
from snacktopus_core.models import NON_BLANK, Basket, OrderRequest, UtcDatetime


class StepTiming(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: str
    started_at: UtcDatetime
    duration_ms: float
    status: Literal["ok", "failed", "skipped"] = "ok"
    detail: str | None = None


class Vote(BaseModel):
    """One human decision as the workflow received it: who, what and when."""

    model_config = ConfigDict(extra="forbid")

    approver: str
    decision: Literal["approve", "reject", "expire", "cancel"]
    at: UtcDatetime
    comment: str | None = None


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    required: bool
    # The policies (runs on the approval-policies path; earlier runs keep the defaults).
    required_approvals: int = Field(default=1, ge=1, le=2)
    votes: list[Vote] = []
    deadline: UtcDatetime | None = None
    escalated_at: UtcDatetime | None = None
    escalation_group: list[str] = []
    decision: Literal["approve", "reject", "timeout", "cancel"] | None = None
    approver: str | None = None
    comment: str | None = None
    requested_at: UtcDatetime | None = None
    decided_at: UtcDatetime | None = None
    wait_s: float | None = None


class RunRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: str
    user_id: str
    request: OrderRequest
    status: RunStatus = "running"
    phase: str = "started"
    reason: str | None = None
    started_at: UtcDatetime
    updated_at: UtcDatetime
    finished_at: UtcDatetime | None = None
    steps: list[StepTiming] = []
    degraded_branches: list[str] = []
    basket: Basket | None = None
    explanation: str | None = None
    total_usd: float = 0.0
    safety_flags: list[SafetyFlag] = []
    approval: Approval = Field(default_factory=lambda: Approval(required=False))
    side_effects: list[str] = Field(default=[], description="Side effects done, in order.")
    compensations: list[str] = Field(default=[], description="Undo steps run, in order.")
    skipped_compensations: list[str] = []
    trace_id: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def stored(cls, value: dict) -> RunRecord:
        """A record read back from the store, where fields this release does not know are
        ignored, nested ones too: during a rolling upgrade the replicas of two releases
        read each other's records, and a reader that refused a newer one answered 500
        until the roll ended (test plan, Appendix D). What the workflow hands an activity
        stays strict (``extra="forbid"``): a worker of the older release refuses it, and
        the task is retried until a newer one takes it, rather than saved without what
        it did not know."""
        return cls.model_validate(value, extra="ignore")


class ApprovalDecision(BaseModel):
    """The payload of the ``humanApproval`` external event."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decision: Literal["approve", "reject", "expire", "cancel"]
    approver: str = Field(min_length=1, max_length=80, pattern=NON_BLANK)
    comment: str | None = Field(default=None, max_length=500)
