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
- ``stock:<sku>``             which orders hold or bought a SKU's units (:mod:`stock`)
- ``reserved:<sku>``          units held and sold under releases before the ledger (read)
- ``slot:<order_id>``         a held delivery slot          (undo: release_delivery_slot)
- ``ledger:<order_id>``       the placed order (written once)
- ``decision:<order_id>``     the first human decision accepted for an order

Reads and writes go through :mod:`snacktopus_core.state` (ETags, one conflict retry for
every read-modify-write); what is here is this app's own: the store it uses and the run
index.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import grpc
from snacktopus_core.contracts import TERMINAL
from snacktopus_core.errors import StateUnavailable
from snacktopus_core.retention import bucket_of
from snacktopus_core.state import StateStore, retry_on_conflict

from workflow_host.settings import get_settings

LEGACY_INDEX_KEY = "runs-index"
INDEX_BUCKETS = 16
INDEX_KEEP_TERMINAL = 5000  # across all buckets


@cache
def state() -> StateStore:
    """workflow-host's store (``state_store``: ``orderstate``)."""
    return StateStore(get_settings().state_store)


@contextmanager
def readable(what: str) -> Iterator[None]:
    """A read that the sidecar or Redis fails (a gRPC error: daprd unreachable, the store
    timing out) raised as :class:`StateUnavailable`, a domain error every caller already
    reports (503 with Retry-After, exit 5, the console keeping its page) rather than a
    crash of whatever was reading."""
    try:
        yield
    except grpc.RpcError as exc:
        detail = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
        raise StateUnavailable(f"{what} unreadable: {detail}") from exc


def _bucket_key(n: int) -> str:
    return f"runs-index:{n:02d}"


def index_bucket(order_id: str) -> str:
    """The index bucket an order's entry lives in (a stable hash of its id)."""
    return _bucket_key(bucket_of(order_id, INDEX_BUCKETS))


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

    def attempt() -> None:
        current, etag = state().get(bucket)
        if etag is None:  # a bucket's first write: create it, so the ETag guards from now on
            state().create(bucket, {})
            current, etag = state().get(bucket)
        entries = dict(current or {})
        entries.pop(order_id, None)
        entries[order_id] = [status, updated_at]  # re-insert: newest last
        done = [k for k, (st, _) in entries.items() if st in terminal]
        for k in done[: max(0, len(done) - keep)]:
            del entries[k]
        state().transact({f"run:{order_id}": (record, None), bucket: (entries, etag)})

    retry_on_conflict(attempt, bucket)


def _entries(buckets: dict[str, tuple[Any | None, str | None]]) -> dict[str, tuple[str, str]]:
    rows = sorted(
        (updated_at, order_id, status)
        for bucket, _ in buckets.values()
        for order_id, (status, updated_at) in (bucket or {}).items()
    )
    return {order_id: (status, updated_at) for updated_at, order_id, status in rows}


def index_entries() -> dict[str, tuple[str, str]]:
    """``{order_id: (status, updated_at)}`` of every bucket, least recently updated first."""
    return _entries(state().get_many([_bucket_key(n) for n in range(INDEX_BUCKETS)]))


def index() -> dict[str, str]:
    """``{order_id: status}``, least recently updated first."""
    with readable("the runs index"):
        values = state().get_many(
            [LEGACY_INDEX_KEY] + [_bucket_key(n) for n in range(INDEX_BUCKETS)]
        )
    out = dict(values.pop(LEGACY_INDEX_KEY)[0] or {})  # predates every bucket: the oldest
    for order_id, (status, _) in _entries(values).items():
        out.pop(order_id, None)
        out[order_id] = status
    return out


def drop_from_index(order_id: str) -> None:
    """Removes an order's entry from its bucket (retention)."""
    state().update(
        index_bucket(order_id), lambda e: {k: v for k, v in (e or {}).items() if k != order_id}
    )
