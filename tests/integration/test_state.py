"""The state layer (snacktopus_core.state) on the real sidecar and Redis: concurrent
read-modify-writes of one key all land. Agent-shell's async face is proven through its API
(test_agent: concurrent asks on one session); this is the sync face, workflow-host's, from
a process of its own on workflow-host's sidecar, as an activity thread pool uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pytest
from workflow_host.store import index_bucket

from tests.integration.conftest import new_id, redis_json

pytestmark = pytest.mark.integration
WF = "workflow-host"
WRITERS = 6
SAVED_AT = "2026-01-01T00:00:00+00:00"
T = TypeVar("T")

# Each writer's first read-modify-write waits, after its read, until every writer has read:
# they all then write against the same ETag (here: a key that does not exist yet), so all
# but one lose the race and must read again. Then the run index: saves of runs that share
# one bucket, started together.
_WRITERS = """
import json, sys, threading
from snacktopus_core.state import StateStore
from workflow_host import store

key, ids = sys.argv[1], json.loads(sys.argv[2])
state = StateStore("orderstate")
everyone_read = threading.Barrier(len(ids))
attempts = []

def append(i):
    first = True
    def fn(value):
        nonlocal first
        attempts.append(i)
        if first:
            first = False
            everyone_read.wait(timeout=60)
        return [*(value or []), i]
    state.update(key, fn)

def save(order_id):
    everyone_read.wait(timeout=60)
    record = {"order_id": order_id, "status": "completed"}
    store.save_run(order_id, record, "completed", sys.argv[3])

for target in (append, save):
    threads = [threading.Thread(target=target, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
print(json.dumps({"attempts": len(attempts)}), flush=True)
"""


def _one_bucket(n: int) -> list[str]:
    """``n`` fresh order ids whose run-index entries share one bucket."""
    first = new_id("state-rmw")
    ids = [first]
    while len(ids) < n:
        candidate = new_id("state-rmw")
        if index_bucket(candidate) == index_bucket(first):
            ids.append(candidate)
    return ids


def _on_workflow_sidecar(stack, script: str, *args: str) -> subprocess.CompletedProcess:
    """Runs ``script`` in a process whose Dapr SDK talks to workflow-host's sidecar."""
    s = stack.settings
    env = {**os.environ, "DAPR_GRPC_PORT": str(s.workflow_dapr_grpc_port)}
    env["DAPR_HTTP_PORT"] = str(s.workflow_dapr_http_port)
    if token := s.local_dapr_api_token():
        env["DAPR_API_TOKEN"] = token
    argv = [sys.executable, "-c", script, *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)


def test_concurrent_read_modify_writes_of_one_key_all_land(stack, redis_client):
    key = new_id("state-rmw")
    ids = _one_bucket(WRITERS)
    bucket = index_bucket(ids[0])
    try:
        done = _on_workflow_sidecar(stack, _WRITERS, key, json.dumps(ids), SAVED_AT)
        assert done.returncode == 0, done.stderr[-3000:]
        # Every writer's item is in the one value: no update was lost.
        assert sorted(redis_json(redis_client, WF, key)) == sorted(ids)
        # And the races did happen: all but one writer lost its first write at least.
        attempts = json.loads(done.stdout.strip().splitlines()[-1])["attempts"]
        assert attempts >= 2 * WRITERS - 1, attempts
        # Run saves racing for one index bucket: every entry and every record is there.
        entries = redis_json(redis_client, WF, bucket)
        assert all(entries.get(i) == ["completed", SAVED_AT] for i in ids), entries
        assert all(redis_json(redis_client, WF, f"run:{i}")["order_id"] == i for i in ids)
    finally:
        _forget(stack, key, bucket, ids)


def _forget(stack, key: str, bucket: str, ids: list[str]) -> None:
    """Takes the test's runs out of the index (through the layer: the app writes it too)
    and deletes its keys."""
    script = (
        "import json, sys\n"
        "from workflow_host import store\n"
        "ids = json.loads(sys.argv[3])\n"
        "state = store.state()\n"
        "left = lambda v: {k: e for k, e in (v or {}).items() if k not in ids}\n"
        "state.update(sys.argv[2], left)\n"
        "state.transact({}, [sys.argv[1], *(f'run:{i}' for i in ids)])\n"
    )
    done = _on_workflow_sidecar(stack, script, key, bucket, json.dumps(ids))
    assert done.returncode == 0, done.stderr[-3000:]


# A create-only write of a key that exists: daprd answers it INTERNAL "failed to set key",
# an error its resiliency retries like a fault. Printed: the attempts Redis received for
# the key and how long the lost write took (the figure the policy is for; not asserted).
_LOST_FIRST_WRITE = """
import json, sys, time
from snacktopus_core.state import StateStore

state = StateStore("agent-memory")
assert state.create(sys.argv[1], {"n": 1})
t = time.perf_counter()
won = state.create(sys.argv[1], {"n": 2})
print(json.dumps({"won": won, "seconds": time.perf_counter() - t}), flush=True)
"""


def _commands_on(redis_client, key: str, during: Callable[[], T]) -> tuple[list[str], T]:
    """The commands Redis received naming ``key`` while ``during`` ran (MONITOR)."""
    seen: list[str] = []
    stop = threading.Event()
    with redis_client.monitor() as monitor:

        def listen() -> None:
            for command in monitor.listen():
                if key in command["command"]:
                    seen.append(command["command"])
                if stop.is_set() and "PING" in command["command"]:
                    return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        try:
            result = during()
        finally:
            stop.set()
            time.sleep(0.2)
            redis_client.ping()  # wakes the listener to end
            listener.join(timeout=10)
    return seen, result


def test_a_lost_first_write_on_agent_memory_is_retried_briefly_by_the_sidecar(stack, redis_client):
    """agent-memory's sidecar retry policy is the short ``memorytx`` (2 retries 50 ms
    apart), not ``state`` (5 exponential retries, ~6.7 s): the lost write reaches Redis
    three times, and comes back to the app as a conflict it handles (create -> False)."""
    key = new_id("state-lost")
    s = stack.settings
    env = {**os.environ, "DAPR_GRPC_PORT": str(s.agent_dapr_grpc_port)}
    env["DAPR_HTTP_PORT"] = str(s.agent_dapr_http_port)
    if token := s.local_dapr_api_token():
        env["DAPR_API_TOKEN"] = token
    argv = [sys.executable, "-c", _LOST_FIRST_WRITE, key]
    seen, done = _commands_on(
        redis_client,
        key,
        lambda: subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120),
    )
    try:
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["won"] is False
        writes = [c for c in seen if c.upper().startswith(("EVAL", "EVALSHA", "FCALL"))]
        print(
            f"lost first write on agent-memory: {len(writes) - 1} attempts, "
            f"{result['seconds']:.2f} s"
        )
        # One that won, then the lost one: once and two sidecar retries.
        assert len(writes) == 1 + 3, [c[:60] for c in seen]
    finally:
        redis_client.delete(f"agent-shell||{key}")


# Orders holding the same SKUs at once, each reading the stock before any of them writes
# (a barrier after each thread's first bulk read: the interleaving the Redis force-kill
# drill met by chance). Then half release and half sell, racing the same way.
# Printed: the units the SKUs had taken before, after the holds and after the releases.
_HOLDERS = """
import json, sys, threading
from types import SimpleNamespace
from snacktopus_core.models import Basket, BasketLine
from snacktopus_core.state import StateStore
from workflow_host import activities, stock

skus, ids = json.loads(sys.argv[1]), json.loads(sys.argv[2])
barriers = {phase: threading.Barrier(len(ids)) for phase in ("hold", "end")}
local = threading.local()
get_many = StateStore.get_many

def racing_get_many(self, *args, **kwargs):
    values = get_many(self, *args, **kwargs)
    phase = getattr(local, "phase", None)  # None: the main thread's figures
    if phase and getattr(local, "raced", None) != phase:
        local.raced = phase
        try:  # best effort: a path that reads nothing more must not hold the others
            barriers[phase].wait(timeout=10)
        except threading.BrokenBarrierError:
            pass
    return values

StateStore.get_many = racing_get_many
line = lambda sku: BasketLine(sku=sku, name=sku, quantity=2, unit_price_usd=1.0,
                              line_total_usd=2.0, servings=1, vendor="v")
basket = Basket(lines=[line(s) for s in skus], total_usd=2.0 * len(skus))

def hold(order_id):
    local.phase = "hold"
    data = activities.BasketInput(order_id=order_id, basket=basket)
    ctx = SimpleNamespace(workflow_id=order_id)  # what the activity reads of its context
    assert activities.reserve_inventory(ctx, data)["status"] == "held"

def end(order_id):
    local.phase = "end"
    final = "released" if ids.index(order_id) % 2 else "committed"
    activities._release_reservation(order_id, final)

def race(target):
    errors = []
    def run(i):
        try:
            target(i)
        except BaseException as exc:
            errors.append(repr(exc))
    threads = [threading.Thread(target=run, args=(i,)) for i in ids]
    for t in threads: t.start()
    for t in threads: t.join()
    assert not errors, errors

figures = {"before": stock.taken(skus)}
race(hold)
figures["held"] = stock.taken(skus)
race(end)
figures["ended"] = stock.taken(skus)
print(json.dumps(figures), flush=True)
"""
HOLD_SKUS = ["CHI-000-CRU-24", "CHI-001-NOR-12"]  # 3,000 units each: never out of stock


def test_orders_holding_the_same_skus_at_once_each_take_their_units(stack, redis_client):
    """Redis runs a multi-key write without rollback: a hold whose counter write lost its
    ETag race must not leave its reservation held with the units uncounted."""
    ids = [new_id("state-hold") for _ in range(WRITERS)]
    ledgers = [f"{WF}||{kind}:{sku}" for sku in HOLD_SKUS for kind in ("reserved", "stock")]
    saved = {key: redis_client.hgetall(key) for key in ledgers}
    done = _on_workflow_sidecar(stack, _HOLDERS, json.dumps(HOLD_SKUS), json.dumps(ids))
    try:
        assert done.returncode == 0, done.stderr[-3000:]
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"units taken: {figures}")
        before, held, ended = (figures[k] for k in ("before", "held", "ended"))
        assert all(
            redis_json(redis_client, WF, f"reservation:{i}")["status"]
            == ("released" if n % 2 else "committed")
            for n, i in enumerate(ids)
        )
        for sku in HOLD_SKUS:  # 2 units per order; the committed half keeps theirs
            assert held[sku] - before.get(sku, 0) == 2 * WRITERS, figures
            assert ended[sku] - before.get(sku, 0) == 2 * (WRITERS // 2), figures
    finally:  # the stock as it was: the committed half would keep their units
        for key, fields in saved.items():
            redis_client.delete(key)
            if fields:
                redis_client.hset(key, mapping=fields)
        for i in ids:
            redis_client.delete(f"{WF}||reservation:{i}")


# A reservation an older release held (counted in its integer ``reserved:<sku>``, no ledger
# mark), ended by this one: released twice (a retried compensation), and another sold.
_LEGACY = """
import json, sys
from snacktopus_core.state import StateStore
from workflow_host import activities, stock

sku, released, sold = sys.argv[1], sys.argv[2], sys.argv[3]
state = StateStore("orderstate")
counter, etag = state.get(f"reserved:{sku}")
state.put(f"reserved:{sku}", int(counter or 0) + 4, etag)  # what the older release counted
for order_id in (released, sold):
    state.put(f"reservation:{order_id}", {"order_id": order_id, "status": "held",
                                          "lines": {sku: 2}})
figures = {"held": stock.taken([sku])[sku]}
activities._release_reservation(released, "released")
activities._release_reservation(sold, "committed")
figures["ended"] = stock.taken([sku])[sku]
_, etag = state.get(f"reservation:{released}")
state.put(f"reservation:{released}", {"order_id": released, "status": "held",
                                      "lines": {sku: 2}}, etag)
activities._release_reservation(released, "released")  # the record reverted: ends again
figures["again"] = stock.taken([sku])[sku]
print(json.dumps(figures), flush=True)
"""


def test_a_hold_of_the_release_before_the_ledger_ends_once(stack, redis_client):
    sku = HOLD_SKUS[0]
    released, sold = new_id("state-legacy"), new_id("state-legacy")
    ledgers = [f"{WF}||{kind}:{sku}" for kind in ("reserved", "stock")]
    saved = {key: redis_client.hgetall(key) for key in ledgers}
    try:
        done = _on_workflow_sidecar(stack, _LEGACY, sku, released, sold)
        assert done.returncode == 0, done.stderr[-3000:]
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"units taken: {figures}")
        # Both holds' 4 units, then the sold order's 2 only, however often it ends.
        assert figures["held"] - figures["ended"] == 2, figures
        assert figures["again"] == figures["ended"], figures
        assert redis_json(redis_client, WF, f"reservation:{sold}")["status"] == "committed"
    finally:
        for key, fields in saved.items():
            redis_client.delete(key)
            if fields:
                redis_client.hset(key, mapping=fields)
        for i in (released, sold):
            redis_client.delete(f"{WF}||reservation:{i}")
