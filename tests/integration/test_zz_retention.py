"""Retention on the real stack: ``snacktopus purge`` forgets an order that ended before
the cutoff (its Dapr workflow instance, its keys, its index entry) and keeps its ledger
entry, and leaves an order that ended after the cutoff whole. Named to run last: a sweep
forgets every finished order older than its cutoff, the other tests' included."""

from __future__ import annotations

import json
import os
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


# ------------------------------------------------------------------ agent-shell's asks
AGENT = "agent-shell"
QUESTION = "snacks for 4 people under $40"


def ask_keys(redis_client, entry_id: str) -> set[str]:
    """Every key with the ask's id in its name, in any store: its Dapr workflow instance
    (``agent-shell||dapr.internal...workflow||ask-<id>||...``), dapr-agents' state and
    memory for it, its pending record."""
    return set(redis_client.scan_iter(match=f"*{entry_id}*", count=1000))


def asked(http, stack, redis_client, user_id: str, session: str | None) -> tuple[str, datetime]:
    body = {"user_id": user_id, "question": QUESTION, "session_id": session}
    r = http.post(f"{stack.url('agent')}/ask", json=body, timeout=120)
    assert r.status_code == 200, r.text
    entry_id = r.json()["entry_id"]
    wait_for_workflow(http, stack.url("agent-dapr"), f"ask-{entry_id}")
    indexed = {}
    for key in redis_client.scan_iter(match=f"{AGENT}||asks-index:*", count=1000):
        indexed.update(json.loads(redis_client.hget(key, "data") or "{}"))
    assert entry_id in indexed, "the answered ask is not in the asks index"
    return entry_id, datetime.fromisoformat(indexed[entry_id])


def purge_asks(stack, *args: str) -> subprocess.CompletedProcess:
    s = stack.settings
    ports = ["--dapr-grpc-port", str(s.agent_dapr_grpc_port)]
    ports += ["--dapr-http-port", str(s.agent_dapr_http_port)]
    return subprocess.run(
        [str(ROOT / ".venv/bin/agent-shell-purge"), *args, *ports],
        cwd=ROOT,
        env={**os.environ, "DAPR_API_TOKEN": s.local_dapr_api_token() or ""},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_purge_forgets_an_old_ask_and_keeps_the_persons_memory(http, stack, redis_client):
    user_id = new_id("u")
    profile = {"allergies": ["peanut"], "diet": [], "budget_usd": 40}
    assert http.put(f"{stack.url('agent')}/profile/{user_id}", json=profile).status_code == 200
    old, old_end = asked(http, stack, redis_client, user_id, None)
    session = http.get(f"{stack.url('agent')}/history", params={"user_id": user_id}).json()[
        "items"
    ][0]["session_id"]
    time.sleep(2)
    young, young_end = asked(http, stack, redis_client, user_id, session)
    before_old, before_young = ask_keys(redis_client, old), ask_keys(redis_client, young)
    assert any("||history-" in k for k in before_old), before_old  # the Dapr instance
    assert f"{AGENT}||snack-concierge:_workflow_ask-{old}" in before_old  # dapr-agents'
    person = {
        f"{AGENT}||profile:{user_id}",
        f"{AGENT}||sessions:{user_id}",
        f"{AGENT}||session:{user_id}:{session}",
    }
    assert all(redis_client.exists(k) for k in person)

    cutoff = old_end + (young_end - old_end) / 2
    result = purge_asks(stack, "--ended-before", cutoff.isoformat())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "forgot" in result.stdout

    assert ask_keys(redis_client, old) == set()
    assert ask_keys(redis_client, young) == before_young
    assert all(redis_client.exists(k) for k in person)  # the person's, kept
    history = http.get(f"{stack.url('agent')}/history", params={"user_id": user_id}).json()
    assert {e["entry_id"] for e in history["items"]} == {old, young}  # memory, kept
    again = purge_asks(stack, "--ended-before", cutoff.isoformat())  # idempotent
    assert again.returncode == 0 and ask_keys(redis_client, young) == before_young


@pytest.mark.parametrize(
    "args",
    [
        ["--older-than-days", "-1"],
        ["--ended-before", "yesterday"],
        ["--ended-before", "2026-12-01T00:00:00"],
        ["--limit", "0"],
        ["--older-than-days", "1", "--ended-before", "2026-12-01T00:00:00+00:00"],
    ],
)
def test_agent_purge_refuses_bad_usage_before_calling_anything(args):
    result = subprocess.run(
        [str(ROOT / ".venv/bin/agent-shell-purge"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
