"""The state layer (snacktopus_core.state): which errors are lost races, and how every
read-modify-write retries them. Faults come from :class:`FaultInjectingDaprClient`, a
stand-in for the Dapr SDK client that lands another writer's write, or a fault, right
before ours. What the store does without faults is proven on the real sidecar
(tests/integration/test_state.py and the apps' integration tests)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from dapr.clients.exceptions import DaprInternalError
from dapr.clients.grpc._response import BulkStateItem, BulkStatesResponse, StateResponse
from snacktopus_core.state import (
    ATTEMPTS,
    AsyncStateStore,
    Conflict,
    StateStore,
    is_conflict,
    retry_on_conflict,
    retry_on_conflict_async,
)

# str() of what the SDK raised on daprd 1.18.2 with state.redis (the local stack, 2026-12):
# the sync client's DaprGrpcError, then the async client's DaprInternalError.
SCRIPT = "script: d908b9553add63a82e03589b5c6d01a7654ef0f2, on @user_script:14."
STALE_ETAG = (
    "<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.ABORTED\n\t"
    'details = "failed saving state in state store orderstate: possible etag mismatch. '
    "error from state store: ERR user_script:14: failed to set key "
    f'workflow-host||probe-err:2516cd {SCRIPT}"\n>'
)
CREATE_EXISTING = (
    "<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.INTERNAL\n\t"
    'details = "failed saving state in state store orderstate: failed to set key '
    "workflow-host||probe-err:0a094b: ERR user_script:14: failed to set key "
    f'workflow-host||probe-err:0a094b {SCRIPT}"\n>'
)
STALE_TRANSACTION = (
    "<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.INTERNAL\n\t"
    'details = "error while executing state transaction: ERR user_script:14: failed to '
    f'set key workflow-host||probe-err:2516cd {SCRIPT}"\n>'
)
ASYNC_STALE_ETAG = (
    "failed saving state in state store orderstate: possible etag mismatch. error from "
    f"state store: ERR user_script:14: failed to set key workflow-host||probe-err:2516cd {SCRIPT}"
)
ASYNC_CREATE_EXISTING = (
    "failed saving state in state store orderstate: failed to set key "
    "workflow-host||probe-err:0a094b: ERR user_script:14: failed to set key "
    f"workflow-host||probe-err:0a094b {SCRIPT}"
)
UNAVAILABLE = (
    "<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.UNAVAILABLE\n\t"
    'details = "failed to connect to all addresses; last error: UNKNOWN: '
    'ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused"\n>'
)
NO_STORE = (
    "<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.INVALID_ARGUMENT"
    '\n\tdetails = "state store nosuchstore is not found"\n>'
)


@pytest.mark.parametrize(
    "text",
    [STALE_ETAG, CREATE_EXISTING, STALE_TRANSACTION, ASYNC_STALE_ETAG, ASYNC_CREATE_EXISTING],
)
def test_daprds_lost_races_are_conflicts(text):
    assert is_conflict(RuntimeError(text))
    assert is_conflict(DaprInternalError(text))


@pytest.mark.parametrize("text", [UNAVAILABLE, NO_STORE, "context deadline exceeded"])
def test_faults_are_not_conflicts(text):
    assert not is_conflict(RuntimeError(text))


def test_our_own_conflict_is_one():
    assert is_conflict(Conflict("reservation:o1: created by a concurrent attempt"))


# ------------------------------------------------------------------ the fault injector
class FaultInjectingDaprClient:
    """A stand-in for the Dapr SDK client, for fault injection only: a dict with ETags and
    daprd's first-write rules, where each queued fault strikes one write. ``"race"`` lands
    another writer's write first (``rival`` applied to the stored value, the ETag moves on)
    so ours is refused as daprd refuses it; an exception is raised as it is."""

    def __init__(self, rival=lambda v: v) -> None:
        self.data: dict[str, tuple[str, int]] = {}  # key -> (json, version)
        self.faults: list[str | Exception] = []
        self.rival = rival
        self.writes = 0

    def _strike(self, key: str) -> None:
        if not self.faults:
            return
        fault = self.faults.pop(0)
        if isinstance(fault, Exception):
            raise fault
        value = json.loads(self.data[key][0]) if key in self.data else None
        self._set(key, json.dumps(self.rival(value)))

    def _set(self, key: str, data: str) -> None:
        self.data[key] = (data, self.data.get(key, ("", 0))[1] + 1)

    def _check(self, key: str, etag: str | None, first_write: bool, text: str) -> None:
        version = self.data.get(key, (None, None))[1]
        if etag is not None and str(version) != etag:
            raise RuntimeError(text)
        if etag is None and first_write and version is not None:
            raise RuntimeError(CREATE_EXISTING)

    def get_state(self, store: str, key: str) -> StateResponse:
        data, version = self.data.get(key, ("", None))
        return StateResponse(data, "" if version is None else str(version))

    def get_bulk_state(self, store: str, keys: list[str], parallelism: int) -> BulkStatesResponse:
        return BulkStatesResponse(
            [
                BulkStateItem(k, self.get_state(store, k).data, self.get_state(store, k).etag)
                for k in keys
            ]
        )

    def save_state(self, store, key, value, etag=None, options=None) -> None:
        self._strike(key)
        self._check(key, etag, options is not None, STALE_ETAG)
        self._set(key, value)
        self.writes += 1

    def execute_state_transaction(self, store, operations) -> None:
        self._strike(operations[0].key)
        for op in operations:
            self._check(op.key, op.etag, False, STALE_TRANSACTION)
        for op in operations:
            self._set(op.key, op.data.decode() if isinstance(op.data, bytes) else op.data)
        self.writes += 1

    def value(self, key: str) -> Any:
        return json.loads(self.data[key][0])


class AsyncFaultInjectingDaprClient:
    """:class:`FaultInjectingDaprClient` behind the async client's coroutine methods."""

    def __init__(self, faults: FaultInjectingDaprClient) -> None:
        self.sync = faults

    async def get_state(self, *args, **kwargs):
        return self.sync.get_state(*args, **kwargs)

    async def save_state(self, *args, **kwargs):
        self.sync.save_state(*args, **kwargs)


def _appended(item: str, calls: list[int]):
    def fn(value: list[str] | None) -> list[str]:
        calls.append(1)
        return [*(value or []), item]

    return fn


# ------------------------------------------------------------------ the sync face
def test_update_retries_a_lost_race_and_keeps_the_rivals_write():
    client = FaultInjectingDaprClient(rival=lambda v: [*(v or []), "rival"])
    store = StateStore("orderstate", client=lambda: client)
    store.put("k", ["first"], create_only=True)
    client.faults = ["race", "race", "race"]
    calls: list[int] = []
    assert store.update("k", _appended("ours", calls)) == [
        "first",
        "rival",
        "rival",
        "rival",
        "ours",
    ]
    assert len(calls) == 4  # one read-modify-write per race lost, then the one that landed
    assert client.value("k") == ["first", "rival", "rival", "rival", "ours"]


def test_update_of_a_new_key_that_a_rival_creates_first_retries():
    client = FaultInjectingDaprClient(rival=lambda v: ["rival"])
    store = StateStore("orderstate", client=lambda: client)
    client.faults = ["race"]
    calls: list[int] = []
    assert store.update("new", _appended("ours", calls)) == ["rival", "ours"]
    assert len(calls) == 2


def test_update_reraises_a_fault_at_once():
    client = FaultInjectingDaprClient()
    store = StateStore("orderstate", client=lambda: client)
    client.faults = [RuntimeError(UNAVAILABLE), "race"]
    calls: list[int] = []
    with pytest.raises(RuntimeError, match="UNAVAILABLE"):
        store.update("k", _appended("ours", calls))
    assert len(calls) == 1 and client.writes == 0


def test_update_gives_up_with_conflict_after_the_budget():
    client = FaultInjectingDaprClient(rival=lambda v: [*(v or []), "rival"])
    store = StateStore("orderstate", client=lambda: client)
    client.faults = ["race"] * (ATTEMPTS + 5)
    calls: list[int] = []
    with pytest.raises(Conflict, match=f"k: still conflicting after {ATTEMPTS} attempts") as err:
        store.update("k", _appended("ours", calls))
    assert len(calls) == ATTEMPTS
    assert is_conflict(err.value.__cause__)  # daprd's refusal, kept as the cause
    assert "ours" not in client.value("k")


def test_a_transaction_with_a_stale_etag_is_retried_from_a_fresh_read():
    client = FaultInjectingDaprClient(rival=lambda v: (v or 0) + 10)
    store = StateStore("orderstate", client=lambda: client)
    store.put("stock", 1, create_only=True)
    client.faults = ["race", "race"]

    def add_one() -> int:
        value, etag = store.get("stock")
        store.transact({"stock": (value + 1, etag), "log": (value + 1, None)})
        return value + 1

    assert retry_on_conflict(add_one, "stock") == 22
    assert client.value("stock") == 22 and client.value("log") == 22


# ------------------------------------------------------------------ retry_on_conflict
def test_retry_on_conflict_reraises_other_errors_unwrapped():
    attempts = []

    def attempt():
        attempts.append(1)
        raise ValueError("a bug, not a race")

    with pytest.raises(ValueError, match="a bug"):
        retry_on_conflict(attempt, "k")
    assert len(attempts) == 1


def test_a_callers_own_conflict_is_retried():
    outcomes: list[Exception | str] = [Conflict("created by a concurrent attempt"), "done"]

    def attempt() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert retry_on_conflict(attempt, "k") == "done"


# ------------------------------------------------------------------ the async face
def test_async_update_retries_races_and_gives_up_after_the_same_budget():
    client = FaultInjectingDaprClient(rival=lambda v: [*(v or []), "rival"])
    store = AsyncStateStore("agent-memory", client=lambda: AsyncFaultInjectingDaprClient(client))
    calls: list[int] = []

    async def ours(value):  # the async face also takes a coroutine function
        return _appended("ours", calls)(value)

    client.faults = ["race", "race"]
    assert asyncio.run(store.update("k", ours)) == ["rival", "rival", "ours"]
    assert len(calls) == 3

    client.faults = ["race"] * ATTEMPTS
    calls.clear()
    with pytest.raises(Conflict, match=f"still conflicting after {ATTEMPTS} attempts"):
        asyncio.run(store.update("k", ours))
    assert len(calls) == ATTEMPTS


def test_async_update_reraises_a_fault_and_writes_nothing_when_fn_says_none():
    client = FaultInjectingDaprClient()
    store = AsyncStateStore("agent-memory", client=lambda: AsyncFaultInjectingDaprClient(client))
    client.faults = [DaprInternalError("state store agent-memory is not found")]
    with pytest.raises(DaprInternalError, match="not found"):
        asyncio.run(store.update("k", lambda v: ["ours"]))
    client.faults = [RuntimeError(UNAVAILABLE)]  # would strike a write: none is made
    assert asyncio.run(store.update("k", lambda v: None)) is None
    assert client.faults and "k" not in client.data


def test_retry_on_conflict_async_reraises_other_errors_at_once():
    attempts = []

    async def attempt():
        attempts.append(1)
        raise ValueError("a bug, not a race")

    with pytest.raises(ValueError):
        asyncio.run(retry_on_conflict_async(attempt, "k"))
    assert len(attempts) == 1
