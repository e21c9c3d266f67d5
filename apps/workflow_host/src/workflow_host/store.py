"""workflow-host's state, all through its Dapr sidecar (``orderstate`` store).

Keys (Dapr prefixes them with the app id in Redis: ``workflow-host||<key>``):

- ``run:<order_id>``          the :class:`RunRecord`
- ``runs-index``              ``{order_id: status}`` for listing (Redis has no query API
                               without RediSearch, so we keep our own index)
- ``quote:<order_id>``        a held price quote            (undo: release_quote)
- ``reservation:<order_id>``  reserved lines, held/released (undo: release_inventory)
- ``reserved:<sku>``          units of a SKU currently held by all orders
- ``slot:<order_id>``         a held delivery slot          (undo: release_delivery_slot)
- ``ledger:<order_id>``       the placed order (written once)
- ``decision:<order_id>``     the first human decision accepted for an order

Read-modify-write goes through ETags with bounded retries, so two writers never lose an
update (first-write concurrency: a stale ETag is refused by the store).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from dapr.clients import DaprClient
from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType
from dapr.clients.grpc._state import Concurrency, Consistency, StateOptions
from snacktopus_core.statestore import is_conflict

from workflow_host.settings import get_settings

T = TypeVar("T")
STRONG_FIRST_WRITE = StateOptions(
    consistency=Consistency.strong, concurrency=Concurrency.first_write
)
INDEX_KEY = "runs-index"
INDEX_KEEP_TERMINAL = 5000

_client: DaprClient | None = None
_client_lock = threading.Lock()


class EtagConflict(RuntimeError):
    pass


def client() -> DaprClient:
    """One gRPC client per process: channels are thread-safe, and activities run in a pool."""
    global _client
    with _client_lock:
        if _client is None:
            _client = DaprClient()
        return _client


def store_name() -> str:
    return get_settings().state_store


def get(key: str) -> tuple[Any | None, str | None]:
    resp = client().get_state(store_name(), key)
    if not resp.data:
        return None, resp.etag or None
    return json.loads(resp.data), resp.etag or None


def put(key: str, value: Any, etag: str | None = None, *, create_only: bool = False) -> None:
    """Last write wins, unless an ETag is given (refused if stale) or ``create_only``
    (refused if the key exists: first-write with no ETag, verified on state.redis)."""
    client().save_state(
        store_name(),
        key,
        json.dumps(value, default=str),
        etag=etag,
        options=STRONG_FIRST_WRITE if (etag or create_only) else None,
    )


def create(key: str, value: Any) -> bool:
    """Writes ``value`` only if ``key`` does not exist; says whether it did."""
    try:
        put(key, value, create_only=True)
        return True
    except Exception as exc:
        if is_conflict(exc):
            return False
        raise


def delete(key: str) -> None:
    client().delete_state(store_name(), key)


def update(key: str, fn: Callable[[Any | None], T], attempts: int = 20) -> T:
    """Read, apply ``fn`` to the current value, write back with the ETag; retry on conflict."""
    last: Exception | None = None
    for _ in range(attempts):
        current, etag = get(key)
        new = fn(current)
        try:
            put(key, new, etag, create_only=current is None)
            return new
        except Exception as exc:  # the SDK raises a gRPC error on a conflict
            if not is_conflict(exc):
                raise
            last = exc
    raise EtagConflict(f"{key}: still conflicting after {attempts} attempts: {last}")


def transact(upserts: dict[str, tuple[Any, str | None]], deletes: list[str] = ()) -> None:
    """Writes several keys atomically; each upsert may carry the ETag it was read with.
    An upsert without an ETag overwrites: create keys with :func:`create` first."""
    ops = [
        TransactionalStateOperation(
            key=k,
            data=json.dumps(v, default=str),
            etag=etag,
            operation_type=TransactionOperationType.upsert,
        )
        for k, (v, etag) in upserts.items()
    ] + [
        TransactionalStateOperation(key=k, operation_type=TransactionOperationType.delete)
        for k in deletes
    ]
    client().execute_state_transaction(store_name(), ops)


def index_set(order_id: str, status: str, terminal: frozenset[str]) -> None:
    def apply(index: dict[str, str] | None) -> dict[str, str]:
        index = dict(index or {})
        index.pop(order_id, None)
        index[order_id] = status  # re-insert: dicts keep insertion order, newest last
        done = [k for k, v in index.items() if v in terminal]
        for k in done[: max(0, len(done) - INDEX_KEEP_TERMINAL)]:
            del index[k]
        return index

    update(INDEX_KEY, apply)


def index() -> dict[str, str]:
    value, _ = get(INDEX_KEY)
    return value or {}
