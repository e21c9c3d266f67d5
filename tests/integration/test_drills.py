"""The runbook's fault drills (tools/drills.py) as tests: real faults, real invariants."""

from __future__ import annotations

import pytest

from tools.drills import Drill

pytestmark = pytest.mark.integration


@pytest.fixture
def drill(stack):
    d = Drill(stack.stack)
    yield d
    d.http.close()


def _assert_no_loss(report):
    assert report.lost == [], report
    assert report.duplicated == [], report
    assert report.leaked == [], report
    assert report.failed_expectations == [], report
    assert sum(report.statuses.values()) == report.in_flight


@pytest.mark.parametrize("fault", ["redis_kill", "kill_sidecar", "kill_agent"])
def test_a_killed_process_loses_and_doubles_nothing(drill, fault):
    report = getattr(drill, fault)()
    _assert_no_loss(report)
    assert report.statuses == {"completed": report.in_flight}, report


def test_ollama_offline_degrades_then_recovers(drill):
    report = drill.ollama_offline()
    _assert_no_loss(report)
    assert report.statuses == {"completed": report.in_flight}
    # Every run started while Ollama was down completed on the tools' basket, its
    # recommendation marked degraded, and the drill's own verdict says so.
    assert report.in_flight == 3 and report.degraded == report.orders, report
    assert report.failed_expectations == [] and report.ok, report
    assert any("/ask: 200 degraded=True" in s for s in report.seen), report.seen
    assert report.seen[-1].endswith("degraded=False")


def test_approval_lag_late_decisions_are_refused_after_compensation(drill):
    report = drill.approval_lag()
    _assert_no_loss(report)
    assert report.statuses == {"completed": 1, "timed_out": 1}
    assert "approval inside the window: 202" in report.seen
    late = next(s for s in report.seen if s.startswith("approval after the timeout"))
    assert "409" in late and "timed out" in late


def test_a_failing_undo_step_is_bounded_and_alerted(drill, probe):
    report = drill.compensation_loop()
    assert report.statuses == {"failed": 1} and report.lost == []
    (order_id,) = report.orders
    alert = probe("order.alert").wait_for(lambda e: e["data"]["order_id"] == order_id)
    assert alert["data"]["stuck_step"] == "release_inventory"
    assert alert["data"]["stuck_steps"] == ["release_inventory"]
    run = drill.run(order_id)
    assert run["status"] == "failed"
    assert "compensation stuck at release_inventory" in run["reason"]
    # The other side effects were still undone; the stuck one is named, not retried forever.
    assert run["compensations"] == ["release_delivery_slot", "release_quote"]
    assert alert["data"]["attempts"] == 4
