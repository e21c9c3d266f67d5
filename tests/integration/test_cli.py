"""snacktopus-approve, the installed console script, against the real stack."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import new_id, start_order, wait_run

pytestmark = pytest.mark.integration
CLI = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "snacktopus-approve")
BIG = {"request": "snacks for the team offsite", "budget_usd": 300, "headcount": 60}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def waiting(http, stack):
    order_id = start_order(http, stack, user_id=new_id("u"), approval_timeout_s=120, **BIG)
    wait_run(http, stack, order_id, {"awaiting_approval"})
    return order_id


def test_pending_show_and_approve(http, stack, waiting):
    listed = cli("pending")
    assert listed.returncode == 0, listed.stderr
    assert waiting in listed.stdout
    shown = cli("show", waiting)
    assert shown.returncode == 0 and "awaiting_approval" in shown.stdout
    assert "safety_gate" in shown.stdout
    done = cli("approve", waiting, "--approver", "frank")
    assert done.returncode == 0, done.stderr
    again = cli("approve", waiting, "--approver", "frank")
    assert again.returncode == 4
    assert "already" in again.stderr
    watched = cli("watch", waiting, "--timeout", "60")
    assert watched.returncode == 0 and "completed" in watched.stdout
    assert wait_run(http, stack, waiting)["approval"]["approver"] == "frank"


def test_reject_with_reason_compensates(http, stack, waiting):
    done = cli("reject", waiting, "--reason", "not this week", "--approver", "gina")
    assert done.returncode == 0, done.stderr
    run = wait_run(http, stack, waiting)
    assert run["status"] == "rejected"
    assert "not this week" in run["reason"]
    assert run["compensations"] == ["release_delivery_slot", "release_inventory", "release_quote"]


def test_expire_forces_the_timeout_path(http, stack, waiting):
    done = cli("expire", waiting)
    assert done.returncode == 0, done.stderr
    run = wait_run(http, stack, waiting)
    assert run["status"] == "timed_out"
    assert run["approval"]["decision"] == "timeout"


def test_unknown_order_and_unreachable_sidecar_have_their_exit_codes(stack):
    unknown = cli("approve", new_id("nope"))
    assert unknown.returncode == 3
    assert "no order" in unknown.stderr
    down = cli("--dapr-http-port", "1", "pending")
    assert down.returncode == 5
    assert "unreachable" in down.stderr
    usage = cli("reject", new_id("x"))  # --reason is required
    assert usage.returncode == 2
