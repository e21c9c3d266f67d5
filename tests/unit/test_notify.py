"""The notifier's bookkeeping (workflow_host.notify): what it answers Dapr, what it counts,
what it never sends twice, and what a mail says. The bindings and the store are stand-ins
here (the real ones: tests/integration/test_notifications.py)."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY
from workflow_host import notify
from workflow_host.settings import WorkflowSettings

NOTICE = {
    "order_id": "ord-1",
    "user_id": "u1",
    "total_usd": 80.0,
    "deadline": "2026-01-01T12:05:00",
    "console_url": "http://console.test/console/orders/ord-1",
    "event_id": "ord-1:approval_requested",
    "basket": [{"name": "Rice <crackers>", "quantity": 2, "line_total_usd": 80.0}],
}
SETTINGS = WorkflowSettings(_env_file=None, notify_channels=["email", "webhook"])


def count(channel: str, outcome: str) -> float:
    labels = {"channel": channel, "outcome": outcome}
    return REGISTRY.get_sample_value("snacktopus_notifications_total", labels) or 0.0


class Down(RuntimeError):
    """Injected fault: the SMTP binding's error when the server is down."""


@pytest.fixture
def sidecar(monkeypatch):
    """The state store as a dict and the bindings as a list of calls; ``down`` names the
    bindings that fail (fault injection)."""
    state: dict[str, Any] = {}
    sent: list[tuple[str, str, dict[str, str]]] = []
    down: set[str] = set()

    class Client:
        def invoke_binding(self, name, operation, data, binding_metadata):
            if name in down:
                raise Down(f"error invoking output binding {name}: connection refused")
            sent.append((name, data, binding_metadata))

    class Store:
        def get(self, key):
            return state.get(key), None

        def put(self, key, value):
            state[key] = value

    monkeypatch.setattr(notify.store, "state", Store)
    monkeypatch.setattr(notify.sidecar, "dapr_client", Client)
    monkeypatch.setattr(notify, "get_settings", lambda: SETTINGS)
    return state, sent, down


def deliver() -> dict[str, str]:
    return notify.deliver_cloudevent("order.approval_requested", {"data": NOTICE})


def test_a_failing_channel_is_counted_and_retried_without_resending_the_other(sidecar):
    state, sent, down = sidecar
    down.add("notify-email")
    failed = count("email", "failed")

    assert deliver() == {"status": "RETRY"}
    assert count("email", "failed") == failed + 1
    assert [name for name, *_ in sent] == ["notify-webhook"]

    down.clear()
    duplicate = count("webhook", "duplicate")
    assert deliver() == {"status": "SUCCESS"}
    assert [name for name, *_ in sent] == ["notify-webhook", "notify-email"]
    assert count("webhook", "duplicate") == duplicate + 1
    assert set(state) == {
        "notified:ord-1:approval_requested:email",
        "notified:ord-1:approval_requested:webhook",
    }


def test_an_unreadable_notice_is_dropped_not_retried_forever(sidecar):
    assert notify.deliver_cloudevent("order.approval_requested", {"data": {"x": 1}}) == {
        "status": "DROP"
    }


def test_the_mail_goes_to_the_approvers_with_the_link_and_escaped_values(sidecar):
    _, sent, _ = sidecar
    deliver()
    (_, body, meta) = next(s for s in sent if s[0] == "notify-email")
    assert meta == {
        "emailTo": "approvers@snacktopus.local",
        "subject": "[Snacktopus] Approval needed: order ord-1 ($80.00)",
    }
    assert 'href="http://console.test/console/orders/ord-1"' in body
    assert "Rice &lt;crackers&gt;" in body and "<crackers>" not in body


def test_the_escalation_goes_to_the_escalation_group(sidecar):
    _, sent, _ = sidecar
    notice = {**NOTICE, "event_id": "ord-1:approval_escalation", "reason": "escalation"}
    notice.pop("basket")
    escalation = {**notice, "audience": "escalation"}
    assert notify.deliver_cloudevent("order.approval_reminder", {"data": escalation}) == {
        "status": "SUCCESS"
    }
    (_, _, meta) = next(s for s in sent if s[0] == "notify-email")
    assert meta["emailTo"] == "escalation@snacktopus.local"
    assert meta["subject"] == "[Snacktopus] Escalated: order ord-1 ($80.00) still needs a decision"
