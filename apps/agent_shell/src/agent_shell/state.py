"""agent-shell's state, through its sidecar's ``agent-memory`` store (async Dapr client).

``update`` is the one read-modify-write: it retries on an ETag conflict, so two concurrent
writers of one key (two asks on one session) never lose an entry.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from dapr.aio.clients import DaprClient
from dapr.clients.grpc._state import Concurrency, Consistency, StateOptions
from snacktopus_core.statestore import is_conflict

from agent_shell.settings import get_settings

T = TypeVar("T")
FIRST_WRITE = StateOptions(consistency=Consistency.strong, concurrency=Concurrency.first_write)

_client: DaprClient | None = None


class Conflict(RuntimeError):
    pass


def client() -> DaprClient:
    global _client
    if _client is None:
        _client = DaprClient()
    return _client


async def close() -> None:
    global _client
    if _client is not None:
        await _client.close()
        _client = None


async def get(key: str) -> tuple[Any | None, str | None]:
    resp = await client().get_state(get_settings().memory_store, key)
    return (json.loads(resp.data) if resp.data else None), (resp.etag or None)


async def get_many(keys: list[str]) -> dict[str, Any]:
    """The keys that hold a value, read in one bulk call (daprd fetches them concurrently)
    instead of a round trip each."""
    if not keys:
        return {}
    resp = await client().get_bulk_state(
        get_settings().memory_store, keys, parallelism=min(len(keys), 16)
    )
    return {item.key: json.loads(item.data) for item in resp.items if item.data}


async def put(key: str, value: Any, etag: str | None = None, *, create_only: bool = False):
    """Last write wins, unless an ETag is given (refused if stale) or ``create_only``
    (refused if the key exists: first-write with no ETag, verified on state.redis)."""
    await client().save_state(
        get_settings().memory_store,
        key,
        json.dumps(value, default=str),
        etag=etag,
        options=FIRST_WRITE if (etag or create_only) else None,
    )


async def delete(key: str) -> None:
    await client().delete_state(get_settings().memory_store, key)


async def update(key: str, fn: Callable[[Any | None], T | Awaitable[T]], attempts: int = 25) -> T:
    last: Exception | None = None
    for _ in range(attempts):
        current, etag = await get(key)
        new = fn(current)
        if isinstance(new, Awaitable):
            new = await new
        if new is None:  # fn decided there is nothing to write
            return new
        try:
            await put(key, new, etag, create_only=current is None)
            return new
        except Exception as exc:
            if not is_conflict(exc):
                raise
            last = exc
    raise Conflict(f"{key}: still conflicting after {attempts} attempts: {last}")
