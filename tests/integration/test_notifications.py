"""Approval notifications on the real stack: the mail the stack's SMTP server (aiosmtpd)
received through Dapr's bindings.smtp, the JSON the chat webhook (event-probe) received
through bindings.http, reminders, escalation and the final notice, and an SMTP outage that
delays the mail but never the order. Test profile: reminder 5 s before the deadline,
escalation to ivan after 4 s, both channels on."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import (
    decide,
    mails,
    metric_total,
    new_id,
    start_order,
    wait_mail,
    wait_run,
    webhooks,
)
from tests.support import BIG_ORDER, wait_until

pytestmark = pytest.mark.integration
NEEDED = "[Snacktopus] Approval needed"
METRIC = "snacktopus_notifications_total"


def _secrets(stack) -> list[str]:
    """Every credential the local stack made: none may appear in a notification."""
    tokens = stack.settings.local_tokens()
    return [
        tokens["dapr_api_token"],
        *tokens["app_api_tokens"].values(),
        *stack.settings.local_secrets().values(),
    ]


def test_a_waiting_order_mails_the_approvers_and_posts_the_webhook(http, stack):
    order_id = start_order(http, stack, user_id=new_id("u"), **BIG_ORDER)
    run = wait_run(http, stack, order_id, {"awaiting_approval"})

    mail = wait_mail(stack, order_id, NEEDED)
    assert mail.to == "approvers@snacktopus.local"
    assert f"order {order_id} (${run['total_usd']:.2f})" in mail.subject
    console = f"http://127.0.0.1:{stack.settings.workflow_app_port}/console/orders/{order_id}"
    assert f'href="{console}"' in mail.body
    for line in run["basket"]["lines"]:
        assert line["name"] in mail.body
    hooks = wait_until(lambda: webhooks(stack, order_id))
    (requested,) = [h for h in hooks if h["topic"] == "order.approval_requested"]
    assert requested["content_type"] == "application/json"
    assert requested["text"] == mail.subject.replace("\n ", " ").replace("\n", "")
    assert requested["data"]["console_url"] == console
    assert requested["data"]["deadline"] == run["approval"]["deadline"]
    for secret in _secrets(stack):
        assert secret not in mail.raw and secret not in json.dumps(hooks)

    assert decide(http, stack, order_id, "alice", "approve").status_code == 202
    assert wait_run(http, stack, order_id)["status"] == "completed"
    closed = wait_mail(stack, order_id, "approved by alice")
    assert closed.to == "approvers@snacktopus.local"
    topics = lambda: {h["topic"] for h in webhooks(stack, order_id)}  # noqa: E731
    wait_until(lambda: "order.approval_closed" in topics())


def test_nobody_decides_escalation_reminder_then_the_timed_out_notice(http, stack):
    # A 10 s window: escalation at 4 s, the reminder at 5 s, the timeout at 10 s.
    order_id = start_order(http, stack, user_id=new_id("u"), approval_timeout_s=10, **BIG_ORDER)

    escalated = wait_mail(stack, order_id, "[Snacktopus] Escalated")
    assert escalated.to == "escalation@snacktopus.local"
    reminder = wait_mail(stack, order_id, "[Snacktopus] Reminder")
    assert reminder.to == "approvers@snacktopus.local"
    run = wait_run(http, stack, order_id)
    assert run["status"] == "timed_out"
    assert run["compensations"]  # the final timeout still compensates
    assert run["approval"]["escalated_at"] is not None
    final = wait_mail(stack, order_id, "timed out")
    assert final.to == "approvers@snacktopus.local"
    posted = wait_until(lambda: len(webhooks(stack, order_id)) >= 4 and webhooks(stack, order_id))
    reasons = [h["data"].get("reason") for h in posted if h["topic"] == "order.approval_reminder"]
    assert sorted(reasons) == ["escalation", "reminder"]


def test_an_smtp_outage_delays_the_mail_but_not_the_order(http, stack):
    wf = stack.url("workflow")
    failed_before = metric_total(http, wf, METRIC, channel="email", outcome="failed")
    stopped = stack.stack.ctl("stop", "smtp", check=False)
    assert "stopped" in stopped.stdout, stopped.stdout + stopped.stderr
    try:
        order_id = start_order(http, stack, user_id=new_id("u"), **BIG_ORDER)
        wait_run(http, stack, order_id, {"awaiting_approval"})
        assert decide(http, stack, order_id, "alice", "approve").status_code == 202
        assert wait_run(http, stack, order_id)["status"] == "completed"
        wait_until(
            lambda: (
                metric_total(http, wf, METRIC, channel="email", outcome="failed") > failed_before
            )
        )
        assert mails(stack, order_id) == []
        # The webhook channel is not held up by the mail one.
        wait_until(lambda: webhooks(stack, order_id))
    finally:
        started = stack.stack.ctl("start", "smtp", check=False)
        assert "started" in started.stdout, started.stdout + started.stderr
    # Redelivered once the server is back: the request and the final notice arrive.
    wait_mail(stack, order_id, NEEDED, timeout=120)
    wait_mail(stack, order_id, "approved by alice", timeout=120)
    assert metric_total(http, wf, METRIC, channel="email", outcome="sent") > 0
