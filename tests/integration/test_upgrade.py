"""Workflow versioning on the real stack: a run started by the workflow-host release from
before the approval policies, waiting for a human when workflow-host restarts on this
code, finishes on its old path (``ctx.is_patched("approval-policies-v1")`` is false in
its replay): one approval completes it even above DUAL_APPROVAL_USD, and it publishes no
approval notice. The old release is this repository's own code from the commit before
``policies.py`` was added, run on the stack's ports in place of the supervised app."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.conftest import (
    answers,
    decide,
    mails,
    new_id,
    start_order,
    wait_run,
)
from tests.support import HUGE_ORDER, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
POLICIES = "apps/workflow_host/src/workflow_host/policies.py"


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def _program_env(stack, program: str) -> dict[str, str]:
    """The environment supervisord gives ``program`` (ports, tokens, profile settings)."""
    conf = stack.stack.conf.read_text()
    section = conf.split(f"[program:{program}]", 1)[1].split("\n[", 1)[0]
    line = re.search(r"^environment=(.*)$", section, re.M)[1]
    return dict(re.findall(r'(\w+)="([^"]*)"', line))


@contextmanager
def old_release(stack, where: Path) -> Iterator[subprocess.Popen]:
    """workflow-host from before the policies, serving in place of the supervised one;
    on leaving, stopped (by its pid) and the supervised app, this code, started again."""
    first = _git("rev-list", "--reverse", "HEAD", "--", POLICIES).splitlines()[0]
    archive = subprocess.run(
        ["git", "archive", f"{first}^", "apps/workflow_host/src", "libs/snacktopus_core/src"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    old_src = where / "apps" / "workflow_host" / "src"
    assert not (old_src / "workflow_host" / "policies.py").exists()
    env = {
        **os.environ,
        **_program_env(stack, "workflow"),
        "PYTHONPATH": f"{old_src}:{where}/libs/snacktopus_core/src",
    }
    health = f"{stack.url('workflow')}/healthz"
    stack.stack.ctl("stop", "workflow")
    old = subprocess.Popen(
        [sys.executable, "-c", "from workflow_host.main import run; run()"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: answers(health), timeout=90)
        yield old
    finally:
        old.send_signal(signal.SIGTERM)
        old.wait(timeout=30)
        stack.stack.ctl("start", "workflow")
        wait_until(lambda: answers(health), timeout=90)


def test_a_run_waiting_across_the_upgrade_finishes_on_its_old_path(http, stack, probe, tmp_path):
    with old_release(stack, tmp_path):
        order_id = start_order(http, stack, user_id=new_id("u"), **HUGE_ORDER)
        run = wait_run(http, stack, order_id, {"awaiting_approval"})
        assert "votes" not in run["approval"]  # the old release's record
    # Now on this code: its replay of the run's history takes the old path.
    r = decide(http, stack, order_id, "alice", "approve")
    assert r.status_code == 202, r.text
    done = wait_run(http, stack, order_id)
    assert done["status"] == "completed"  # one approver, though above DUAL_APPROVAL_USD
    assert done["total_usd"] > 60
    approval = done["approval"]
    assert (approval["approver"], approval["votes"], approval["deadline"]) == ("alice", [], None)
    completed = probe("order.completed").wait_for(lambda e: e["data"]["order_id"] == order_id)
    assert completed["data"]["approver"] == "alice"
    for topic in ("order.approval_requested", "order.approval_closed"):
        assert probe(topic).matching(lambda e: e["data"]["order_id"] == order_id) == []
    assert mails(stack, order_id) == []
