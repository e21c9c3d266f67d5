"""Pooled clients for our own calls to this app's Dapr sidecar: the Dapr SDK's gRPC client
(state, pub/sub, secrets, conversation), one per process, and HTTP clients for the calls it
has no typed API for (service invocation, metadata), which go through ``httpx``.

Why pooled: a new ``httpx`` client builds an SSL context from the certifi bundle even for
a plain-HTTP loopback URL, about 20 ms on the 2-core machine, which is more than the
sidecar round trip it is made for; a client per service invocation pays that twice per
order in workflow-host (``make bench``, test plan Appendix B). One client per process
(sync, thread-safe, for activities running in the worker's thread pool) or per app
lifespan (async, bound to its event loop) pays that once and keeps the connection open.
The same holds for the SDK's clients: each new one checks the sidecar's health over HTTP
and opens a gRPC channel of its own.
"""

from __future__ import annotations

import threading

import httpx
from dapr.aio.clients import DaprClient as AsyncDaprClient
from dapr.clients import DaprClient

from snacktopus_core.settings import AppSettings

# Enough for the activity thread pool's concurrent invocations without queueing on the
# pool; the sidecar is on loopback, so idle keep-alive connections cost next to nothing.
LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=32)

_sync: dict[tuple[str, tuple[tuple[str, str], ...]], httpx.Client] = {}
_sync_lock = threading.Lock()
_dapr: DaprClient | None = None
_dapr_async: AsyncDaprClient | None = None


def _key(settings: AppSettings) -> tuple[str, tuple[tuple[str, str], ...]]:
    return settings.dapr_http_url, tuple(sorted(settings.sidecar_headers.items()))


def sync_client(settings: AppSettings) -> httpx.Client:
    """This process's client for ``settings``' sidecar, made on first use. Per-call
    timeouts go on the request (``timeout=``), so one client serves every caller."""
    key = _key(settings)
    with _sync_lock:
        client = _sync.get(key)
        if client is None or client.is_closed:
            client = httpx.Client(
                base_url=settings.dapr_http_url, headers=settings.sidecar_headers, limits=LIMITS
            )
            _sync[key] = client
        return client


def async_client(settings: AppSettings, timeout: float = 15.0) -> httpx.AsyncClient:
    """A new async client for ``settings``' sidecar; an app makes one in its lifespan and
    closes it at shutdown (an async client belongs to the event loop that made it)."""
    return httpx.AsyncClient(
        base_url=settings.dapr_http_url,
        headers=settings.sidecar_headers,
        limits=LIMITS,
        timeout=timeout,
    )


def close_sync_clients() -> None:
    with _sync_lock:
        for client in _sync.values():
            client.close()
        _sync.clear()


def dapr_client() -> DaprClient:
    """This process's Dapr SDK client, made on first use (gRPC channels are thread-safe,
    and workflow activities run in a thread pool). The SDK reads the sidecar's address and
    API token from ``DAPR_*`` when the client is made."""
    global _dapr
    with _sync_lock:
        if _dapr is None:
            _dapr = DaprClient()
        return _dapr


def dapr_async_client() -> AsyncDaprClient:
    """This process's async Dapr SDK client, made on first use inside the event loop it
    serves; :func:`close_dapr_async_client` at shutdown."""
    global _dapr_async
    if _dapr_async is None:
        _dapr_async = AsyncDaprClient()
    return _dapr_async


async def close_dapr_async_client() -> None:
    """Closes the async client; the next use makes a new one (a new event loop's)."""
    global _dapr_async
    if _dapr_async is not None:
        client, _dapr_async = _dapr_async, None
        await client.close()
