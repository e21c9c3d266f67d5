"""workflow-host's HTTP API: start, list, inspect, decide and cancel orders."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from snacktopus_core.contracts import DecisionAccepted, Problem, RunStatus
from snacktopus_core.errors import FaultInjectionDisabled, StateUnavailable, UnknownOrder
from snacktopus_core.models import NON_BLANK, Id, Integer, Number, OrderRequest
from snacktopus_core.telemetry import current_traceparent

from workflow_host import approvals, auth, store
from workflow_host.runs import ApprovalDecision, RunRecord
from workflow_host.settings import get_settings
from workflow_host.workflow import WORKFLOW_NAME, Faults, WorkflowInput

log = logging.getLogger("workflow_host.api")
router = APIRouter(tags=["orders"])

# Domain errors (snacktopus_core.errors) are not caught here: the app's one handler answers
# each with the status and headers the shared table gives it.


def _hide_faults(schema: dict[str, Any]) -> None:
    """Where ``ALLOW_FAULT_INJECTION`` is off the published schema has no ``faults``: a
    body naming it (even ``null``) is outside the schema and refused with 400."""
    if not get_settings().allow_fault_injection:
        schema["properties"].pop("faults", None)


class OrderCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=_hide_faults
    )

    order_id: Id | None = Field(
        default=None, description="Give one to make the start idempotent (a retry runs once)."
    )
    user_id: Id
    request: str = Field(min_length=1, max_length=2000, pattern=NON_BLANK)
    budget_usd: Number = Field(gt=0, le=10_000)
    headcount: Integer = Field(ge=1, le=500)
    approval_timeout_s: Number | None = Field(
        default=None,
        gt=0,
        le=7 * 24 * 3600,
        description="How long this order waits for a human (default APPROVAL_TIMEOUT_S).",
    )
    faults: Faults | None = Field(
        default=None, description="Fault injection (tests/drills; needs ALLOW_FAULT_INJECTION)."
    )


class OrderAccepted(BaseModel):
    order_id: str
    status: str
    status_url: str
    created: bool


class OrderView(BaseModel):
    order_id: str
    workflow_status: str | None
    run: RunRecord | None


class OrderSummary(BaseModel):
    order_id: str
    status: str


def _accepted(order_id: str, wf_status: str, url: str, *, created: bool) -> JSONResponse:
    """202 for a run this call started; 200 when the id was already taken (idempotent)."""
    body = OrderAccepted(order_id=order_id, status=wf_status, status_url=url, created=created)
    return JSONResponse(body.model_dump(), status_code=202 if created else 200)


@router.post(
    "/orders",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=OrderAccepted,
    responses={
        200: {"model": OrderAccepted, "description": "Already started (same id)."},
        400: {
            "model": Problem,
            "description": "`faults` given where `ALLOW_FAULT_INJECTION` is off, or a body "
            "that is not text.",
        },
    },
    summary="Start a snacktopus run.",
)
def create_order(body: OrderCreate, request: Request) -> JSONResponse:
    settings = get_settings()
    if "faults" in body.model_fields_set and not settings.allow_fault_injection:
        raise FaultInjectionDisabled("fault injection is disabled (ALLOW_FAULT_INJECTION=false)")
    order_id = body.order_id or f"ord-{uuid.uuid4().hex[:16]}"
    url = str(request.url_for("get_order", order_id=order_id))
    existing = approvals.workflow_status(order_id)
    if existing is not None:
        return _accepted(order_id, existing, url, created=False)
    order = OrderRequest(
        order_id=order_id,
        user_id=body.user_id,
        request=body.request,
        budget_usd=body.budget_usd,
        headcount=body.headcount,
        traceparent=current_traceparent(),
    )
    inp = WorkflowInput.from_order(order, settings, body.faults)
    if body.approval_timeout_s is not None:
        inp.approval_timeout_s = body.approval_timeout_s
    try:
        approvals.wf_client().schedule_new_workflow(
            workflow=WORKFLOW_NAME, input=inp.model_dump(mode="json"), instance_id=order_id
        )
    except Exception as exc:
        # Two concurrent starts with one id: the loser finds the winner's instance.
        if approvals.workflow_status(order_id) is None:
            raise
        log.info("duplicate start", extra={"order_id": order_id, "error": str(exc)[:200]})
        return _accepted(order_id, "RUNNING", url, created=False)
    log.info("order started", extra={"order_id": order_id, "user_id": body.user_id})
    return _accepted(order_id, "PENDING", url, created=True)


@router.get(
    "/orders/{order_id}",
    response_model=OrderView,
    responses={404: {"model": Problem}},
    summary="One run: its record and the Dapr workflow status.",
)
def get_order(order_id: Id) -> OrderView:
    run = approvals.load_run(order_id)
    try:
        wf_status = approvals.workflow_status(order_id)
    except StateUnavailable:
        if run is None:
            raise
        wf_status = None  # the run record is ours and current; Dapr's view can wait
    if run is None and wf_status is None:
        raise UnknownOrder(f"no order {order_id}")
    return OrderView(order_id=order_id, workflow_status=wf_status, run=run)


@router.get(
    "/orders",
    response_model=list[OrderSummary],
    summary="Runs, newest first; filter by status (e.g. awaiting_approval).",
)
def list_orders(
    status_: Annotated[RunStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[OrderSummary]:
    index = store.index()
    rows = [
        OrderSummary(order_id=k, status=v)
        for k, v in reversed(index.items())
        if status_ is None or v == status_
    ]
    return rows[:limit]


def decide(order_id: str, decision: ApprovalDecision) -> DecisionAccepted:
    approvals.decide(order_id, decision)
    return DecisionAccepted(
        order_id=order_id,
        decision=decision.decision,
        approver=decision.approver,
        detail="decision delivered to the workflow",
    )


@router.post(
    "/orders/{order_id}/decision",
    status_code=202,
    response_model=DecisionAccepted,
    responses={
        401: {"model": Problem},
        403: {"model": Problem},
        404: {"model": Problem},
        409: {"model": Problem},
    },
    summary="Approve or reject an order waiting for a human (the humanApproval event).",
)
def post_decision(
    order_id: Id,
    decision: ApprovalDecision,
    authorization: Annotated[
        str | None,
        Header(description="`Bearer <token>`: the approver's token (secret `approver-<name>`)."),
    ] = None,
) -> DecisionAccepted:
    # 401 without a bearer token, 403 when it is not the approver's, 503 when the secret
    # store cannot be read: checked before anything about the order is revealed.
    auth.authenticate(decision.approver, auth.bearer(authorization))
    return decide(order_id, decision)


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requester: str = Field(default="requester", min_length=1, max_length=80, pattern=NON_BLANK)
    reason: str | None = Field(default=None, max_length=500)


@router.post(
    "/orders/{order_id}/cancel",
    status_code=202,
    response_model=DecisionAccepted,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
    summary="Cancel an order waiting for approval: it compensates and ends rejected.",
)
def cancel_order(order_id: Id, body: CancelBody | None = None) -> DecisionAccepted:
    body = body or CancelBody()
    return decide(
        order_id,
        ApprovalDecision(decision="cancel", approver=body.requester, comment=body.reason),
    )
