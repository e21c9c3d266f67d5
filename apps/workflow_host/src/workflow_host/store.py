"""workflow-host's state, all through its Dapr sidecar (``orderstate`` store).

Keys (Dapr prefixes them with the app id in Redis: ``workflow-host||<key>``):

- ``run:<order_id>``          the :class:`RunRecord`
- ``runs-index:<nn>``          16 buckets of ``{order_id: [status, updated_at]}`` for
                               listing (Redis has no query API without RediSearch, so we
                               keep our own index); an order's bucket is a hash of its id
- ``runs-index``              the single-map index of releases before the buckets: read
                               so the runs it lists stay listed, never written
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

import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from dapr.clients import DaprClient
from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType
from dapr.clients.grpc._state import Concurrency, Consistency, StateOptions
from snacktopus_core.contracts import TERMINAL
from snacktopus_core.statestore import is_conflict

from workflow_host.settings import get_settings

T = TypeVar("T")
STRONG_FIRST_WRITE = StateOptions(
    consistency=Consistency.strong, concurrency=Concurrency.first_write
)
LEGACY_INDEX_KEY = "runs-index"
INDEX_BUCKETS = 16
INDEX_KEEP_TERMINAL = 5000  # across all buckets

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


def get_many(keys: list[str]) -> dict[str, tuple[Any | None, str | None]]:
    """``{key: (value, etag)}`` for every key, in one bulk read (daprd fetches the keys
    concurrently); a key with no value maps to ``(None, None)``."""
    if not keys:
        return {}
    resp = client().get_bulk_state(store_name(), keys, parallelism=min(len(keys), 16))
    out: dict[str, tuple[Any | None, str | None]] = {k: (None, None) for k in keys}
    for item in resp.items:
        if item.data:
            out[item.key] = (json.loads(item.data), item.etag or None)
    return out


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


def create_or_get(key: str, value: Any) -> tuple[Any, bool]:
    """Writes ``value`` unless ``key`` exists; returns what the key holds and whether this
    call wrote it. Create first, read only on a conflict: one round trip on the usual
    path, and a retry or a replay gets the first write back."""
    if create(key, value):
        return value, True
    existing, _ = get(key)
    return existing, False


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


def _bucket_key(n: int) -> str:
    return f"runs-index:{n:02d}"


def index_bucket(order_id: str) -> str:
    """The index bucket an order's entry lives in (a stable hash of its id)."""
    return _bucket_key(int(hashlib.sha256(order_id.encode()).hexdigest()[:8], 16) % INDEX_BUCKETS)


def save_run(
    order_id: str,
    record: dict[str, Any],
    status: str,
    updated_at: str,
    terminal: frozenset[str] = TERMINAL,
) -> None:
    """Writes the run record and its index entry in one transaction.

    Why buckets: with one key for all runs, every save reads and rewrites the whole map
    (28 KB after 700 runs, up to 5000 terminal entries) and every run in flight contends
    for its ETag. A bucket holds a sixteenth of it, and the record and the entry go in one
    round trip.
    """
    bucket = index_bucket(order_id)
    keep = INDEX_KEEP_TERMINAL // INDEX_BUCKETS
    last: Exception | None = None
    for _ in range(20):
        current, etag = get(bucket)
        if etag is None:  # a bucket's first write: create it, so the ETag guards from now on
            create(bucket, {})
            current, etag = get(bucket)
        entries = dict(current or {})
        entries.pop(order_id, None)
        entries[order_id] = [status, updated_at]  # re-insert: newest last
        done = [k for k, (st, _) in entries.items() if st in terminal]
        for k in done[: max(0, len(done) - keep)]:
            del entries[k]
        try:
            transact({f"run:{order_id}": (record, None), bucket: (entries, etag)})
            return
        except Exception as exc:
            if not is_conflict(exc):
                raise
            last = exc
    raise EtagConflict(f"{bucket}: still conflicting after 20 attempts: {last}")


def _entries(buckets: dict[str, tuple[Any | None, str | None]]) -> dict[str, tuple[str, str]]:
    rows = sorted(
        (updated_at, order_id, status)
        for bucket, _ in buckets.values()
        for order_id, (status, updated_at) in (bucket or {}).items()
    )
    return {order_id: (status, updated_at) for updated_at, order_id, status in rows}


def index_entries() -> dict[str, tuple[str, str]]:
    """``{order_id: (status, updated_at)}`` of every bucket, least recently updated first."""
    return _entries(get_many([_bucket_key(n) for n in range(INDEX_BUCKETS)]))


def index() -> dict[str, str]:
    """``{order_id: status}``, least recently updated first."""
    values = get_many([LEGACY_INDEX_KEY] + [_bucket_key(n) for n in range(INDEX_BUCKETS)])
    out = dict(values.pop(LEGACY_INDEX_KEY)[0] or {})  # predates every bucket: the oldest
    for order_id, (status, _) in _entries(values).items():
        out.pop(order_id, None)
        out[order_id] = status
    return out


def drop_from_index(order_id: str) -> None:
    """Removes an order's entry from its bucket (retention)."""
    update(index_bucket(order_id), lambda e: {k: v for k, v in (e or {}).items() if k != order_id})
