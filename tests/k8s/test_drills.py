"""Pod-kill drills on the live cluster, two replicas of each app: a pod force-killed
(``--grace-period=0 --force``: SIGKILL, as on a lost node) at a moment when runs are in
flight, waiting for a human, or being answered. Each is judged by the ledger (``judge``:
one entry per completed order, none for a compensated one, every held record released,
one terminal event each) and by the stock counters, not by counting events alone. Each
drill writes its counts to ``.run/k8s/drills.json`` for the test plan."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.k8s.conftest import (
    BIG_ORDER,
    SMALL_ORDER,
    force_kill,
    judge_ended,
    new_id,
    pods_of,
    record_drill,
    redis_json,
    rollout_complete,
    run_record,
    start_order,
    wait_run,
    wait_until,
)

AGENT, WF = "agent-shell", "workflow-host"
# The waiting orders' own window outlasts the drill's worst case (the kind profile: 60 s).
WINDOW_S = 900


def _waiting(http, apps, n: int) -> list[str]:
    orders = [start_order(http, apps, approval_timeout_s=WINDOW_S, **BIG_ORDER) for _ in range(n)]
    for order_id in orders:
        wait_run(http, apps, order_id, {"awaiting_approval"})
    return orders


def _approve(cli, orders: list[str]) -> None:
    """Approves each order with the CLI, asking again while the cluster heals (a forward
    to a pod that is going, an actor being placed again)."""
    for order_id in orders:

        def approved(order_id=order_id):
            done = cli("approve", order_id, "--comment", "after the drill")
            return done if done.returncode == 0 else None

        wait_until(approved, timeout=240, every=5)


def _two_replicas(app: str) -> list[str]:
    rollout_complete(app)
    pods = wait_until(lambda: (p := pods_of(app)) and len(p) == 2 and p, timeout=240, every=2)
    return pods


def _judged(http, apps, probe, orders: list[str], drill: str, **extra) -> None:
    verdict = judge_ended(http, apps, probe, dict.fromkeys(orders, "completed"))
    assert verdict.ledger_entries == len(orders)
    runs = {o: run_record(http, apps, o) for o in orders}
    assert all(runs[o]["side_effects"][-1] == "place_order" for o in orders)
    record_drill(
        drill,
        orders=len(orders),
        **verdict.counts(),
        ledger_entries=verdict.ledger_entries,
        doubled=0,
        lost=0,
        **extra,
    )


@pytest.mark.timeout(1200)
def test_a_workflow_host_pod_killed_mid_run_loses_and_doubles_nothing(http, apps, probe, cli):
    """Runs are actors placed over both replicas by Dapr's placement: killing one replica
    takes the runs it hosted (in flight and waiting) mid-way; the other replica, and then
    the replacement pod, must finish every one exactly once."""
    victim, _ = _two_replicas(WF)
    waiting = _waiting(http, apps, 3)
    in_flight = [start_order(http, apps, **SMALL_ORDER) for _ in range(6)]
    old = force_kill(victim)
    # The replacement comes; until then the survivor carries every run.
    wait_until(lambda: len(pods_of(WF)) == 2 and victim not in pods_of(WF), timeout=300, every=2)
    assert old not in {p for p in pods_of(WF)}
    _approve(cli, waiting)
    _judged(
        http,
        apps,
        probe,
        [*waiting, *in_flight],
        "workflow_host_pod_killed",
        waiting=len(waiting),
        in_flight=len(in_flight),
    )


def _ask(url: str, user_id: str, outcome: dict[str, object]) -> None:
    """One /ask straight to one pod; the pod dies under it, so an error is the expected
    answer here. The ask itself must still be finished once, by the other replica."""
    try:
        r = httpx.post(
            f"{url}/ask", json={"user_id": user_id, "question": "Snacks for 6 people"}, timeout=180
        )
        outcome[user_id] = r.status_code
    except httpx.HTTPError as exc:
        outcome[user_id] = type(exc).__name__


def _pending_count() -> int:
    return len(redis_json(AGENT, "pending-ask-index") or {})


@pytest.mark.timeout(1200)
def test_an_agent_shell_pod_killed_mid_ask_and_recommend_finishes_each_once(
    http, apps, probe, forwards
):
    victim, _ = _two_replicas(AGENT)
    url = forwards(victim, 8001).url
    users = [new_id("u") for _ in range(3)]
    outcome: dict[str, object] = {}
    asks = [threading.Thread(target=_ask, args=(url, u, outcome)) for u in users]
    before = _pending_count()
    for t in asks:
        t.start()
    # Orders in their recommend step call agent-shell through Dapr, on either replica.
    orders = [start_order(http, apps, **SMALL_ORDER) for _ in range(4)]
    wait_until(lambda: _pending_count() >= before + len(users), timeout=60, every=0.3)
    force_kill(victim)
    for t in asks:
        t.join(timeout=200)

    def answered_once():
        try:
            pages = {
                u: http.get(f"{apps.agent}/history", params={"user_id": u}).json() for u in users
            }
        except httpx.TransportError:
            return None  # the forward went with the killed pod: it is opened again
        done = all(p["items"] and p["items"][0]["answer"] for p in pages.values())
        return pages if done else None

    pages = wait_until(answered_once, timeout=300, every=3)
    # Exactly one entry per ask, answered, whichever replica finished it.
    assert {u: p["total"] for u, p in pages.items()} == dict.fromkeys(users, 1), pages
    assert wait_until(lambda: _pending_count() <= before or None, timeout=120, every=2)
    _two_replicas(AGENT)
    _judged(
        http,
        apps,
        probe,
        orders,
        "agent_shell_pod_killed",
        asks=len(users),
        asks_answered_once=len(users),
        asks_cut_off=sum(1 for v in outcome.values() if v != 200),
    )
