"""The two loops the apps, the tools and the tests need: retry a call a fixed number of
times while its error is one worth retrying, and poll a probe until it answers or a deadline
passes.

Why by hand, not tenacity or backoff: each is a dozen lines here, and the callers need what
those libraries leave to a wrapper anyway: the last answer of a poll that timed out (the
caller decides whether that is an exception, an exit code or a failed test), and the last
error of a retry that gave up, re-raised as it was so the caller can translate it (a stale
ETag into :class:`~snacktopus_core.state.Conflict`, a store read into ``StateUnavailable``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def retry(
    fn: Callable[[], T],
    *,
    attempts: int,
    retryable: Callable[[Exception], bool],
    pause: Callable[[int], float] | None = None,
) -> T:
    """``fn()``, called again while it raises an error ``retryable`` accepts, at most
    ``attempts`` times in all; ``pause(n)`` seconds after the ``n``-th failure (0-based),
    none if not given. Any other error, and the last retryable one, propagates as raised."""
    for n in range(attempts):
        try:
            return fn()
        except Exception as exc:
            if not retryable(exc) or n == attempts - 1:
                raise
            if pause is not None:
                time.sleep(pause(n))
    raise ValueError(f"attempts must be at least 1, not {attempts}")


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    retryable: Callable[[Exception], bool],
    pause: Callable[[int], float] | None = None,
) -> T:
    """:func:`retry` for a coroutine function: the same budget and the same propagation."""
    for n in range(attempts):
        try:
            return await fn()
        except Exception as exc:
            if not retryable(exc) or n == attempts - 1:
                raise
            if pause is not None:
                await asyncio.sleep(pause(n))
    raise ValueError(f"attempts must be at least 1, not {attempts}")


def poll_until(probe: Callable[[], T], timeout: float, every: float) -> T | None:
    """Calls ``probe`` every ``every`` seconds while ``timeout`` seconds have not passed,
    and returns its first truthy answer. Past the deadline it returns the last (falsy)
    answer, or None if there was no time for a single call: what a timeout means is the
    caller's to say."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    return last
