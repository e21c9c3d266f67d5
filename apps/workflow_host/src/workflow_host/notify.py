"""The notifier: delivers the approval notices to people, off the workflow's path.

The workflow only publishes ``order.approval_requested``, ``order.approval_reminder`` and
``order.approval_closed`` (:mod:`workflow_host.policies`); this subscriber (workflow-host's
own, through its sidecar) turns each into a mail through the ``notify-email`` output
binding (``bindings.smtp``) and a JSON post through ``notify-webhook`` (``bindings.http``),
per ``NOTIFY_CHANNELS``. A channel that fails is logged, counted in
``snacktopus_notifications_total{outcome="failed"}`` and answered ``RETRY``: Dapr redelivers
(resiliency ``notify`` policy, then the Redis stream's redelivery), and a channel already
delivered for that event is not sent again (``notified:<event_id>:<channel>``). An SMTP
server that is down delays the mail; the order never waits for it. No notice carries a
token: approvers sign in to the console with their own.
"""

from __future__ import annotations

import html
import json
import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from snacktopus_core import sidecar
from snacktopus_core.events import (
    TOPIC_APPROVAL_CLOSED,
    TOPIC_APPROVAL_REMINDER,
    TOPIC_APPROVAL_REQUESTED,
    ApprovalClosed,
    ApprovalNotice,
    ApprovalReminder,
    ApprovalRequested,
)
from snacktopus_core.web import sidecar_only

from workflow_host import store
from workflow_host.metrics import NOTIFICATIONS
from workflow_host.settings import WorkflowSettings, get_settings

log = logging.getLogger("workflow_host.notify")
TOPICS = {
    TOPIC_APPROVAL_REQUESTED: ApprovalRequested,
    TOPIC_APPROVAL_REMINDER: ApprovalReminder,
    TOPIC_APPROVAL_CLOSED: ApprovalClosed,
}
router = APIRouter(tags=["notifications"], include_in_schema=False)


@router.get("/dapr/subscribe")
def subscriptions() -> list[dict[str, str]]:
    """Dapr's programmatic subscription: the approval notices, to the notifier."""
    pubsub = get_settings().pubsub_name
    return [{"pubsubname": pubsub, "topic": t, "route": f"/notify/{t}"} for t in TOPICS]


@router.post("/notify/{topic}", dependencies=[Depends(sidecar_only(get_settings()))])
async def receive(topic: str, request: Request) -> dict[str, str]:
    envelope = await request.json()
    return deliver_cloudevent(topic, envelope)


def deliver_cloudevent(topic: str, envelope: dict[str, Any]) -> dict[str, str]:
    """Dapr's answer for one delivery: SUCCESS, RETRY (a channel failed) or DROP (not a
    notice we can read: retrying would never help)."""
    try:
        notice = TOPICS[topic].model_validate(envelope.get("data"))
    except (KeyError, ValidationError) as exc:
        log.error("undeliverable notice dropped", extra={"topic": topic, "error": str(exc)[:300]})
        return {"status": "DROP"}
    failed = deliver(topic, notice, get_settings())
    return {"status": "RETRY" if failed else "SUCCESS"}


def deliver(topic: str, notice: ApprovalNotice, settings: WorkflowSettings) -> list[str]:
    """Sends ``notice`` on every configured channel not yet done; returns those that failed."""
    failed = []
    for channel in settings.notify_channels:
        key = f"notified:{notice.event_id}:{channel}"
        if store.state().get(key)[0] is not None:
            NOTIFICATIONS.labels(channel, "duplicate").inc()
            continue
        try:
            _send(channel, topic, notice, settings)
        except Exception as exc:  # the sidecar reports the binding's error in its text
            NOTIFICATIONS.labels(channel, "failed").inc()
            log.warning(
                "notification failed, Dapr will redeliver",
                extra={"order_id": notice.order_id, "channel": channel, "error": str(exc)[:300]},
            )
            failed.append(channel)
            continue
        store.state().put(key, {"topic": topic, "order_id": notice.order_id})
        NOTIFICATIONS.labels(channel, "sent").inc()
        log.info("notification sent", extra={"order_id": notice.order_id, "channel": channel})
    return failed


def _send(channel: str, topic: str, notice: ApprovalNotice, settings: WorkflowSettings) -> None:
    if channel == "email":
        to = (
            settings.notify_escalation_email
            if notice.audience == "escalation"
            else settings.notify_approvers_email
        )
        sidecar.dapr_client().invoke_binding(
            settings.notify_email_binding,
            "create",
            mail_body(notice),
            binding_metadata={"emailTo": to, "subject": subject(notice)},
        )
    else:
        payload = {"text": subject(notice), "topic": topic, "data": notice.model_dump(mode="json")}
        sidecar.dapr_client().invoke_binding(
            settings.notify_webhook_binding,
            "post",
            json.dumps(payload),
            binding_metadata={"Content-Type": "application/json"},
        )


def subject(notice: ApprovalNotice) -> str:
    order = f"order {notice.order_id} (${notice.total_usd:.2f})"
    if isinstance(notice, ApprovalReminder):
        if notice.reason == "escalation":
            return f"[Snacktopus] Escalated: {order} still needs a decision"
        return f"[Snacktopus] Reminder: {order} waits for approval"
    if isinstance(notice, ApprovalClosed):
        who = f" by {notice.decided_by}" if notice.decided_by else ""
        return f"[Snacktopus] {order}: {notice.outcome.replace('_', ' ')}{who}"
    return f"[Snacktopus] Approval needed: {order}"


def mail_body(notice: ApprovalNotice) -> str:
    """The mail (HTML: bindings.smtp sends text/html), every value escaped."""
    e = html.escape
    rows = [
        f"<p>{e(subject(notice))}</p>",
        f"<p>Order <b>{e(notice.order_id)}</b> requested by {e(notice.user_id)}, "
        f"total ${notice.total_usd:.2f}.</p>",
        f"<p>Deadline: {e(notice.deadline.isoformat())}. Approvals needed: "
        f"{notice.required_approvals}; so far: {e(', '.join(notice.approved_by) or 'none')}.</p>",
    ]
    if isinstance(notice, ApprovalRequested):
        lines = "".join(
            f"<li>{line.quantity} x {e(line.name)}: ${line.line_total_usd:.2f}"
            f"{' (' + e(', '.join(line.allergens)) + ')' if line.allergens else ''}</li>"
            for line in notice.basket
        )
        flags = "".join(f"<li>{e(f.severity)}: {e(f.detail)}</li>" for f in notice.safety_flags)
        rows += [f"<ul>{lines}</ul>", f"<p>Safety flags:</p><ul>{flags or '<li>none</li>'}</ul>"]
    url = e(notice.console_url)
    rows.append(f'<p>Open it in the console: <a href="{url}">{url}</a></p>')
    return "\n".join(rows)
