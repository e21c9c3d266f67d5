"""Human decisions on orders waiting for approval: one implementation for the HTTP API and
the ``snacktopus-approve`` CLI.

Dapr drops events sent to a finished or missing instance silently, so a decision is
checked against the run record first, claimed once (create-only ``decision:<id>`` key, so
two approvers racing cannot both win), and only then raised as ``humanApproval`` through
the Dapr workflow client.

The approval policies are checked here too, before the claim (the workflow keeps them as
well, :mod:`workflow_host.policies`): the requester never approves their own order; the
escalation group decides only once the order escalated; under four eyes a second approval
claims a second slot (``decision:<id>:2``), taken only by someone other than the first.
"""

from __future__ import annotations

import logging

import grpc
from dapr.ext.workflow import DaprWorkflowClient, WorkflowStatus
from snacktopus_core.errors import NotWaiting, PolicyRefused, StateUnavailable, UnknownOrder
from snacktopus_core.retry import retry
from snacktopus_core.telemetry import quiet_sdk_loggers

from workflow_host import store
from workflow_host.runs import ApprovalDecision, RunRecord
from workflow_host.workflow import APPROVAL_EVENT

log = logging.getLogger("workflow_host.approvals")


_client: DaprWorkflowClient | None = None


def wf_client() -> DaprWorkflowClient:
    global _client
    if _client is None:
        _client = DaprWorkflowClient()
        quiet_sdk_loggers()  # the client added a plain-text handler of its own
    return _client


def workflow_status(order_id: str, attempts: int = 4) -> str | None:
    """The Dapr runtime status of an order's instance, or None if there is none.

    daprd 1.18.2 can answer a read that races the instance's own state write with UNKNOWN
    "... missing from state store (transient store read failure or partial save?)": that
    read is retried briefly, then reported as StateUnavailable, never as a crash.
    """

    def read() -> str | None:
        state = wf_client().get_workflow_state(order_id, fetch_payloads=False)
        return state.runtime_status.name if state else None

    try:
        return retry(read, attempts=attempts, retryable=_transient, pause=lambda n: 0.05 * (n + 1))
    except grpc.RpcError as exc:
        if not _transient(exc):
            raise
        raise StateUnavailable(f"workflow state of {order_id} unreadable: {exc.details()}") from exc


def _transient(exc: Exception) -> bool:
    return isinstance(exc, grpc.RpcError) and exc.code() in (
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.UNAVAILABLE,
    )


def load_run(order_id: str) -> RunRecord | None:
    """The order's run record, None if it has none; a store fault is StateUnavailable."""
    with store.readable(f"the run record of {order_id}"):
        value, _ = store.state().get(f"run:{order_id}")
    return RunRecord.stored(value) if value else None


def decide(order_id: str, decision: ApprovalDecision) -> RunRecord:
    run = load_run(order_id)
    if run is None:
        if workflow_status(order_id) is None:
            raise UnknownOrder(f"no order {order_id}")
        raise NotWaiting(f"order {order_id} is not waiting for approval yet")
    if run.status != "awaiting_approval":
        detail = f"order {order_id} is {run.status}, not awaiting approval"
        if run.terminal and run.approval.decision == "timeout":
            detail = f"order {order_id} timed out waiting for approval and was compensated"
        elif run.approval.decision:
            detail += f" (already decided: {run.approval.decision} by {run.approval.approver})"
        raise NotWaiting(detail)
    check_policies(run, decision)
    claim = {"decision": decision.decision, "approver": decision.approver}
    _claim(order_id, run, claim)
    if workflow_status(order_id) != WorkflowStatus.RUNNING.name:
        raise NotWaiting(f"order {order_id} is no longer running")
    wf_client().raise_workflow_event(order_id, APPROVAL_EVENT, data=decision.model_dump())
    log.info("decision raised", extra={"order_id": order_id, **claim})
    return run


def check_policies(run: RunRecord, decision: ApprovalDecision) -> None:
    """Who may decide this run, by the policies it started with (:class:`PolicyRefused`)."""
    who = decision.approver.strip().lower()
    if decision.decision == "approve" and who == run.user_id.lower():
        raise PolicyRefused(
            f"{decision.approver} asked for order {run.order_id}: the requester cannot "
            "approve their own order"
        )
    approval = run.approval
    if who in approval.escalation_group and approval.escalated_at is None:
        raise PolicyRefused(
            f"{decision.approver} is in the escalation group: they may decide order "
            f"{run.order_id} once it escalates"
        )


def _claim(order_id: str, run: RunRecord, claim: dict[str, str]) -> None:
    """Claims the first free decision slot (one, or two under four eyes), or raises
    :class:`NotWaiting`: the order is decided, or this approver already approved it."""
    who = claim["approver"].lower()
    for slot in range(1, run.approval.required_approvals + 1):
        key = f"decision:{order_id}" if slot == 1 else f"decision:{order_id}:{slot}"
        claimed, created = store.state().create_or_get(key, claim)
        if created:
            return
        if claimed["decision"] != "approve":
            break
        if claimed["approver"].lower() == who and run.approval.required_approvals > 1:
            raise NotWaiting(
                f"{claim['approver']} already approved order {order_id}: a second, different "
                "approver must approve it"
            )
    raise NotWaiting(
        f"order {order_id} already has a decision: {claimed['decision']} by {claimed['approver']}"
    )
