"""The snacktopus workflow in the cluster: an order over the threshold approved with the CLI
completes; a rejected one and a timed-out one compensate. Each terminal status is checked in
the in-cluster Redis, in the event an in-cluster subscriber received (validated against the
event models), and in the in-cluster Zipkin."""

from __future__ import annotations

from snacktopus_core.errors import NotWaiting, exit_code
from snacktopus_core.events import OrderCompensated, OrderCompleted

from tests.k8s.conftest import (
    BIG_ORDER,
    redis_json,
    start_order,
    wait_run,
    wait_until,
)
from tests.support import LONG_APPROVAL_S

WF = "workflow-host"
UNDO = ["release_delivery_slot", "release_inventory", "release_quote"]


def _trace_has(http, apps, run, tag: str, value: str):
    def found():
        got = http.get(f"{apps.zipkin}/api/v2/trace/{run['trace_id']}")
        spans = got.json() if got.status_code == 200 else []
        hits = [s for s in spans if s.get("tags", {}).get(tag) == value]
        return spans if hits else None

    return wait_until(found, timeout=90, every=2)


def _undo_steps(spans: list[dict]) -> list[str] | None:
    """The undo steps of a trace's ``compensate`` spans in the order they first started
    (Zipkin returns spans in no set order; a retried step shows once), once as many steps
    as UNDO has are in (the exporter sends on its own schedule); else None."""
    undo = sorted(
        (s for s in spans if "snacktopus.compensation" in s.get("tags", {})),
        key=lambda s: s["timestamp"],
    )
    steps = list(dict.fromkeys(s["tags"]["snacktopus.compensation"].split(":")[0] for s in undo))
    return steps if len(steps) >= len(UNDO) else None


def _undo_in_trace(http, apps, run) -> list[str]:
    def found():
        got = http.get(f"{apps.zipkin}/api/v2/trace/{run['trace_id']}")
        return _undo_steps(got.json() if got.status_code == 200 else [])

    return wait_until(found, timeout=90, every=2)


def test_an_order_over_the_threshold_approved_with_the_cli_completes(http, apps, probe, cli):
    # A window no port-forwarded CLI call misses (the chart's kind profile waits 60 s).
    order_id = start_order(http, apps, approval_timeout_s=LONG_APPROVAL_S, **BIG_ORDER)
    run = wait_run(http, apps, order_id, {"awaiting_approval"})
    assert run["approval"]["required"] is True
    done = cli("approve", order_id, "--comment", "ok from k8s")
    assert done.returncode == 0, done.stdout + done.stderr
    run = wait_run(http, apps, order_id)
    assert run["status"] == "completed", run
    assert run["approval"]["approver"] == "alice"
    ledger = redis_json(WF, f"ledger:{order_id}")
    assert ledger["approver"] == "alice" and ledger["total_usd"] == run["total_usd"]
    event = probe.wait_for("order.completed", order_id)
    payload = OrderCompleted.model_validate(event["data"])
    assert payload.status == "completed" and payload.approval == "approved"
    assert payload.total_usd == run["total_usd"]
    assert event["source"] == WF
    spans = _trace_has(http, apps, run, "snacktopus.status", "completed")
    ours = [s for s in spans if s.get("tags", {}).get("snacktopus.order_id") == order_id]
    assert {s["localEndpoint"]["serviceName"] for s in ours} == {"workflow-host", "agent-shell"}
    steps = {s["tags"].get("snacktopus.step") for s in spans if "tags" in s}
    assert {"recommend", "reserve_inventory", "place_order"} <= steps


def _assert_compensated(http, apps, probe, order_id: str, status: str):
    run = wait_run(http, apps, order_id)
    assert run["status"] == status, run
    assert run["compensations"] == UNDO
    assert redis_json(WF, f"ledger:{order_id}") is None
    for key in ("reservation", "slot", "quote"):
        assert redis_json(WF, f"{key}:{order_id}")["status"] == "released"
    event = probe.wait_for("order.compensated", order_id)
    payload = OrderCompensated.model_validate(event["data"])
    assert payload.status == status and payload.compensations == UNDO
    # The trace shows the undo steps ran in the reverse order of the side effects.
    assert _undo_in_trace(http, apps, run) == UNDO
    return run, payload


def test_a_rejected_order_compensates(http, apps, probe, cli):
    order_id = start_order(http, apps, approval_timeout_s=LONG_APPROVAL_S, **BIG_ORDER)
    wait_run(http, apps, order_id, {"awaiting_approval"})
    done = cli("reject", order_id, "--reason", "too pricey for k8s", approver="bob")
    assert done.returncode == 0, done.stdout + done.stderr
    _, payload = _assert_compensated(http, apps, probe, order_id, "rejected")
    assert payload.approver == "bob" and "too pricey" in payload.reason


def test_an_order_nobody_decides_times_out_and_compensates(http, apps, probe, cli):
    order_id = start_order(http, apps, approval_timeout_s=5, **BIG_ORDER)
    _assert_compensated(http, apps, probe, order_id, "timed_out")
    late = cli("approve", order_id)
    assert late.returncode == exit_code(NotWaiting), late
    assert "timed out" in late.stderr and "compensated" in late.stderr, late
