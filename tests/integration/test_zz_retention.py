"""Retention on the real stack: ``snacktopus purge`` forgets an order that ended before
the cutoff (its Dapr workflow instance, its keys, its index entry) and keeps its ledger
entry, and leaves an order that ended after the cutoff whole. Named to run last: a sweep
forgets every finished order older than its cutoff, the other tests' included."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.conftest import forgotten, new_id, start_order, wait_for_workflow, wait_run
from tests.support import SMALL_ORDER

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def keys_of(redis_client, order_id: str) -> set[str]:
    """Every key Dapr wrote for the order in either store: the instance's actor state
    (``...workflow||<id>||history-000001``...) and ours (``workflow-host||run:<id>``...)."""
    return {
        *redis_client.scan_iter(match=f"*||{order_id}||*", count=1000),
        *redis_client.scan_iter(match=f"workflow-host||*:{order_id}", count=1000),
    }


def finished(http, stack) -> tuple[str, datetime]:
    order_id = start_order(http, stack, order_id=new_id("ret"), user_id=new_id("u"), **SMALL_ORDER)
    run = wait_run(http, stack, order_id)
    assert run["status"] == "completed", run
    wait_for_workflow(http, stack.url("workflow-dapr"), order_id)
    ended = datetime.fromisoformat(run["updated_at"])
    return order_id, ended if ended.tzinfo else ended.replace(tzinfo=UTC)  # stored in UTC


def purge(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / ".venv/bin/snacktopus"), "purge", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_purge_forgets_an_old_finished_order_and_keeps_its_ledger(http, stack, redis_client):
    old, old_end = finished(http, stack)
    time.sleep(2)
    young, young_end = finished(http, stack)
    before_old, before_young = keys_of(redis_client, old), keys_of(redis_client, young)
    assert f"workflow-host||ledger:{old}" in before_old
    assert any("||history-" in k for k in before_old)

    # A cutoff between the two ends: the old order is older than it, the young one not.
    cutoff = old_end + (young_end - old_end) / 2
    result = purge("--ended-before", cutoff.isoformat())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "forgot" in result.stdout
    forgotten(stack, old)

    assert keys_of(redis_client, old) == {f"workflow-host||ledger:{old}"}
    assert http.get(f"{stack.url('workflow')}/orders/{old}").status_code == 404
    listed = http.get(f"{stack.url('workflow')}/orders", params={"status": "completed"}).json()
    assert old not in str(listed)
    assert keys_of(redis_client, young) == before_young
    assert http.get(f"{stack.url('workflow')}/orders/{young}").json()["run"]["status"] == (
        "completed"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--older-than-days", "-1"],
        ["--ended-before", "yesterday"],
        ["--ended-before", "2026-12-01T00:00:00"],  # no offset: which day is that?
        ["--older-than-days", "1", "--ended-before", "2026-12-01T00:00:00+00:00"],
    ],
)
def test_purge_refuses_bad_usage_before_calling_anything(args):
    result = purge(*args)
    assert result.returncode == 2, result.stdout + result.stderr
