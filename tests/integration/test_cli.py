"""The installed console scripts against the real stack: ``snacktopus`` (one command, its
sub-commands) and ``snacktopus-approve``, the alias of its approval commands."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import new_id, wait_run

pytestmark = pytest.mark.integration
BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"
SNACKTOPUS, ALIAS = "snacktopus", "snacktopus-approve"
both = pytest.mark.parametrize("prog", [SNACKTOPUS, ALIAS])


def cli(
    *args: str, token: str | None = None, prog: str = SNACKTOPUS
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SNACKTOPUS_APPROVER_TOKEN"}
    if token is not None:
        env["SNACKTOPUS_APPROVER_TOKEN"] = token
    return subprocess.run(
        [str(BIN / prog), *args], capture_output=True, text=True, timeout=120, env=env
    )


@both
def test_pending_show_and_approve(http, stack, waiting, prog):
    listed = cli("pending", prog=prog)
    assert listed.returncode == 0, listed.stderr
    assert waiting in listed.stdout
    shown = cli("show", waiting, prog=prog)
    assert shown.returncode == 0 and "awaiting_approval" in shown.stdout
    assert "safety_gate" in shown.stdout
    frank = stack.settings.approver_token("frank")
    done = cli("approve", waiting, "--approver", "frank", token=frank, prog=prog)
    assert done.returncode == 0, done.stderr
    assert f"approve sent for {waiting} by frank" in done.stdout
    again = cli("approve", waiting, "--approver", "frank", token=frank, prog=prog)
    assert again.returncode == 4
    assert "already" in again.stderr
    watched = cli("watch", waiting, "--timeout", "60", prog=prog)
    assert watched.returncode == 0 and "completed" in watched.stdout
    assert wait_run(http, stack, waiting)["approval"]["approver"] == "frank"
    traced = cli("trace", waiting)  # the same order's story, from the one command
    assert traced.returncode == 0, traced.stderr
    assert waiting in traced.stdout and "approval: approve by frank" in traced.stdout


def test_reject_with_reason_compensates(http, stack, waiting):
    gina = stack.settings.approver_token("gina")
    done = cli("reject", waiting, "--reason", "not this week", "--approver", "gina", token=gina)
    assert done.returncode == 0, done.stderr
    run = wait_run(http, stack, waiting)
    assert run["status"] == "rejected"
    assert "not this week" in run["reason"]
    assert run["compensations"] == ["release_delivery_slot", "release_inventory", "release_quote"]


def test_expire_forces_the_timeout_path(http, stack, waiting):
    alice = stack.settings.approver_token("alice")
    done = cli("expire", waiting, "--approver", "alice", token=alice, prog=ALIAS)
    assert done.returncode == 0, done.stderr
    run = wait_run(http, stack, waiting)
    assert run["status"] == "timed_out"
    assert run["approval"]["decision"] == "timeout"


@both
def test_unknown_order_and_unreachable_sidecar_have_their_exit_codes(stack, prog):
    alice = stack.settings.approver_token("alice")
    unknown = cli("approve", new_id("nope"), "--approver", "alice", token=alice, prog=prog)
    assert unknown.returncode == 3
    assert "no order" in unknown.stderr
    down = cli("--dapr-http-port", "1", "pending", prog=prog)
    assert down.returncode == 5
    assert "unreachable" in down.stderr
    usage = cli("reject", new_id("x"), token=alice, prog=prog)  # --reason is required
    assert usage.returncode == 2


def test_trace_has_the_tables_exit_codes_and_the_alias_has_no_trace(stack):
    unknown = cli("trace", new_id("nope"))
    assert unknown.returncode == 3 and "no order" in unknown.stdout
    down = cli("trace", new_id("x"), "--workflow-url", "http://127.0.0.1:1")
    assert down.returncode == 5 and "unreachable" in down.stdout
    assert cli("trace", new_id("x"), prog=ALIAS).returncode == 2


def test_deciding_needs_the_approvers_own_token(http, stack, waiting):
    missing = cli("approve", waiting, "--approver", "frank")
    assert missing.returncode == 2 and "token" in missing.stderr.lower()
    gina = stack.settings.approver_token("gina")
    impostor = cli("approve", waiting, "--approver", "frank", token=gina)
    assert impostor.returncode == 6
    assert "does not belong to approver 'frank'" in impostor.stderr
    stranger = cli("approve", waiting, "--approver", "mallory", token=gina)
    assert stranger.returncode == 6 and "not a known approver" in stranger.stderr
    assert wait_run(http, stack, waiting, {"awaiting_approval"})["approval"]["decision"] is None
