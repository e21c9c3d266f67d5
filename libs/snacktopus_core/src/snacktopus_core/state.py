"""Both apps' state, through their own sidecar's Dapr state API (``state.redis``): a sync
face (:class:`StateStore`, for workflow activities running in a thread pool) and an async
face (:class:`AsyncStateStore`, for FastAPI handlers), with the same methods and the same
return shapes, over the process's one Dapr SDK client (:mod:`snacktopus_core.sidecar`).
Each app passes the store its settings name (``orderstate``, ``agent-memory``).

Values are JSON. A read gives ``(value, etag)``, ``(None, None)`` for a key with no value.
Read-modify-write (:meth:`StateStore.update`, and any caller's own through
:func:`retry_on_conflict`) goes through ETags: the write carries the ETag it read with and
the store refuses it if someone wrote in between, so two writers never lose an update; the
loser reads again and retries, within :data:`ATTEMPTS`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from inspect import isawaitable
from typing import Any, TypeVar

from dapr.aio.clients import DaprClient as AsyncDaprClient
from dapr.clients import DaprClient
from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType
from dapr.clients.grpc._state import Concurrency, Consistency, StateOptions

from snacktopus_core import sidecar
from snacktopus_core.retry import retry, retry_async

T = TypeVar("T")
Read = tuple[Any | None, str | None]

# One budget for every read-modify-write in both apps. A conflict is always another
# writer's success on the same key (optimistic concurrency never refuses everyone), and
# attempts follow each other at once (a read and a write, a few ms), so a caller gives up
# only once this many other writes landed on its very key while it retried. The busiest
# keys the apps write see far fewer at once: eight concurrent asks on one session write
# its document 16 times (test_agent), and a run-index bucket takes a sixteenth of the runs
# in flight. 25 was the larger of the two budgets the apps had before (20 and 25), so no
# caller gets fewer tries; a key that hot is a design fault to split (as the run index and
# the pending asks were), not bad luck to wait out. In workflow-host a give-up fails the
# activity, and its durable retry policy (``store_retry``) tries again later.
ATTEMPTS = 25

FIRST_WRITE = StateOptions(consistency=Consistency.strong, concurrency=Concurrency.first_write)


class Conflict(RuntimeError):
    """A read-modify-write lost its race: :func:`retry_on_conflict` gave up after its
    budget, or a caller says a concurrent writer got there first (retried like a stale
    ETag)."""


def is_conflict(exc: Exception) -> bool:
    """Whether a Dapr state error is a lost optimistic-concurrency race (stale ETag, or a
    first-write on a key that now exists), which the caller retries, rather than a fault.

    The SDKs raise an error whose text is all that tells them apart (the sync client a
    ``DaprGrpcError`` quoting the gRPC status, the async one a ``DaprInternalError`` with
    the details alone for a single write). The texts daprd 1.18.2 gives for state.redis,
    seen on the real sidecar (tests/unit/test_state.py keeps them): a stale ETag is
    ``ABORTED`` "possible etag mismatch ... failed to set key"; a first-write of a key that
    exists, and a transaction carrying a stale ETag, are ``INTERNAL`` "... failed to set
    key ...". Our own :class:`Conflict` (a give-up, or a caller's "someone was first")
    counts too.
    """
    if isinstance(exc, Conflict):
        return True
    text = str(exc).lower()
    return "etag" in text or "failed to set key" in text or "aborted" in text


def _gave_up(what: str, attempts: int, exc: Exception) -> Conflict:
    return Conflict(f"{what}: still conflicting after {attempts} attempts: {exc}")


def retry_on_conflict(attempt: Callable[[], T], what: str, attempts: int = ATTEMPTS) -> T:
    """``attempt()`` (a whole read-modify-write: read, compute, write with the ETags read),
    again at once after each conflict, at most ``attempts`` times; then :class:`Conflict`.
    Any other error propagates at once. ``what`` names the key(s) in the give-up message."""
    try:
        return retry(attempt, attempts=attempts, retryable=is_conflict)
    except Exception as exc:
        if not is_conflict(exc):
            raise
        raise _gave_up(what, attempts, exc) from exc


async def retry_on_conflict_async(
    attempt: Callable[[], Awaitable[T]], what: str, attempts: int = ATTEMPTS
) -> T:
    """:func:`retry_on_conflict` for a coroutine function."""
    try:
        return await retry_async(attempt, attempts=attempts, retryable=is_conflict)
    except Exception as exc:
        if not is_conflict(exc):
            raise
        raise _gave_up(what, attempts, exc) from exc


# ------------------------------------------------------------------ shared by both faces
def _encode(value: Any) -> str:
    return json.dumps(value, default=str)


def _read(data: bytes, etag: str) -> Read:
    return (json.loads(data) if data else None), (etag or None)


def _reads(keys: list[str], items: Iterable[Any]) -> dict[str, Read]:
    out: dict[str, Read] = dict.fromkeys(keys, (None, None))
    for item in items:
        if item.data:
            out[item.key] = _read(item.data, item.etag)
    return out


def _options(etag: str | None, create_only: bool) -> StateOptions | None:
    """First-write when an ETag is given (refused if stale) or ``create_only`` (refused if
    the key exists: first-write with no ETag, verified on state.redis); else last write
    wins."""
    return FIRST_WRITE if (etag or create_only) else None


def _operations(
    upserts: dict[str, tuple[Any, str | None]], deletes: Iterable[str]
) -> list[TransactionalStateOperation]:
    return [
        TransactionalStateOperation(
            key=k, data=_encode(v), etag=etag, operation_type=TransactionOperationType.upsert
        )
        for k, (v, etag) in upserts.items()
    ] + [
        TransactionalStateOperation(key=k, operation_type=TransactionOperationType.delete)
        for k in deletes
    ]


def _parallelism(keys: list[str]) -> int:
    return min(len(keys), 16)  # daprd fetches a bulk read's keys concurrently


# ------------------------------------------------------------------ the sync face
class StateStore:
    """One state store through the sidecar, for synchronous callers (thread-safe)."""

    def __init__(self, name: str, client: Callable[[], DaprClient] = sidecar.dapr_client):
        self.name = name
        self._client = client

    def get(self, key: str) -> Read:
        resp = self._client().get_state(self.name, key)
        return _read(resp.data, resp.etag)

    def get_many(self, keys: list[str]) -> dict[str, Read]:
        """``{key: (value, etag)}`` for every key, in one bulk read; a key with no value
        maps to ``(None, None)``."""
        if not keys:
            return {}
        resp = self._client().get_bulk_state(self.name, keys, parallelism=_parallelism(keys))
        return _reads(keys, resp.items)

    def put(
        self, key: str, value: Any, etag: str | None = None, *, create_only: bool = False
    ) -> None:
        """Last write wins, unless an ETag is given or ``create_only`` (see :func:`_options`)."""
        self._client().save_state(
            self.name, key, _encode(value), etag=etag, options=_options(etag, create_only)
        )

    def create(self, key: str, value: Any) -> bool:
        """Writes ``value`` only if ``key`` does not exist; says whether it did."""
        try:
            self.put(key, value, create_only=True)
            return True
        except Exception as exc:
            if is_conflict(exc):
                return False
            raise

    def create_or_get(self, key: str, value: Any) -> tuple[Any, bool]:
        """Writes ``value`` unless ``key`` exists; returns what the key holds and whether
        this call wrote it. Create first, read only on a conflict: one round trip on the
        usual path, and a retry or a replay gets the first write back."""
        if self.create(key, value):
            return value, True
        return self.get(key)[0], False

    def delete(self, key: str) -> None:
        self._client().delete_state(self.name, key)

    def update(self, key: str, fn: Callable[[Any | None], T | None]) -> T | None:
        """Reads ``key``, applies ``fn`` to its value (None if none) and writes the result
        back with the ETag read, retried on a conflict (``fn`` runs once per attempt).
        ``fn`` returning None writes nothing: there was nothing to change."""

        def attempt() -> T | None:
            current, etag = self.get(key)
            new = fn(current)
            if new is not None:
                self.put(key, new, etag, create_only=current is None)
            return new

        return retry_on_conflict(attempt, key)

    def transact(
        self, upserts: dict[str, tuple[Any, str | None]], deletes: Iterable[str] = ()
    ) -> None:
        """Writes several keys atomically; each upsert may carry the ETag it was read with.
        An upsert without an ETag overwrites: create keys with :meth:`create` first."""
        self._client().execute_state_transaction(self.name, _operations(upserts, deletes))


# ------------------------------------------------------------------ the async face
class AsyncStateStore:
    """:class:`StateStore` for coroutines: the same methods, awaited."""

    def __init__(
        self, name: str, client: Callable[[], AsyncDaprClient] = sidecar.dapr_async_client
    ):
        self.name = name
        self._client = client

    async def get(self, key: str) -> Read:
        resp = await self._client().get_state(self.name, key)
        return _read(resp.data, resp.etag)

    async def get_many(self, keys: list[str]) -> dict[str, Read]:
        """See :meth:`StateStore.get_many`."""
        if not keys:
            return {}
        resp = await self._client().get_bulk_state(self.name, keys, parallelism=_parallelism(keys))
        return _reads(keys, resp.items)

    async def put(
        self, key: str, value: Any, etag: str | None = None, *, create_only: bool = False
    ) -> None:
        """See :meth:`StateStore.put`."""
        await self._client().save_state(
            self.name, key, _encode(value), etag=etag, options=_options(etag, create_only)
        )

    async def create(self, key: str, value: Any) -> bool:
        """See :meth:`StateStore.create`."""
        try:
            await self.put(key, value, create_only=True)
            return True
        except Exception as exc:
            if is_conflict(exc):
                return False
            raise

    async def create_or_get(self, key: str, value: Any) -> tuple[Any, bool]:
        """See :meth:`StateStore.create_or_get`."""
        if await self.create(key, value):
            return value, True
        return (await self.get(key))[0], False

    async def delete(self, key: str) -> None:
        await self._client().delete_state(self.name, key)

    async def update(
        self, key: str, fn: Callable[[Any | None], T | Awaitable[T | None] | None]
    ) -> T | None:
        """See :meth:`StateStore.update`; ``fn`` may also be a coroutine function."""

        async def attempt() -> T | None:
            current, etag = await self.get(key)
            new = fn(current)
            if isawaitable(new):
                new = await new
            if new is not None:
                await self.put(key, new, etag, create_only=current is None)
            return new

        return await retry_on_conflict_async(attempt, key)

    async def transact(
        self, upserts: dict[str, tuple[Any, str | None]], deletes: Iterable[str] = ()
    ) -> None:
        """See :meth:`StateStore.transact`."""
        await self._client().execute_state_transaction(self.name, _operations(upserts, deletes))
