"""Retention, shared by both apps: what ended ``RUN_RETENTION_DAYS`` ago is forgotten.

Each app keeps an index of what it finished (workflow-host its runs index, agent-shell its
asks index) and says how to forget one item (its Dapr workflow instance, its keys, then
its index entry, last, so a sweep cut short is finished by the next: every step is
idempotent). What is here is the part that is the same in both: which items are due, the
sweep that forgets them one by one without letting one item's fault stop the others, the
purge of a finished Dapr workflow instance, and the sweeper thread.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import grpc

log = logging.getLogger("snacktopus_core.retention")

# The runtime statuses of an instance that has not ended: never purged (Dapr refuses to).
NOT_ENDED = frozenset({"RUNNING", "PENDING", "SUSPENDED"})


@dataclass
class Sweep:
    cutoff: datetime
    examined: int = 0
    forgotten: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class Unfinished(Exception):
    """The item is indexed as finished but something of it is still going (its workflow
    instance has not completed yet): left for the next sweep."""


def parse(stamp: str | datetime) -> datetime:
    """An index's time stamp as an aware datetime (a naive one was written in UTC)."""
    at = stamp if isinstance(stamp, datetime) else datetime.fromisoformat(stamp)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def due(
    ended: Mapping[str, str | datetime], cutoff: datetime, limit: int, keep: int | None = None
) -> list[str]:
    """The items that ended before ``cutoff`` and, when ``keep`` is given, the oldest
    beyond the newest ``keep`` (an index's hard bound): oldest first, at most ``limit``."""
    by_age = sorted((parse(at), item) for item, at in ended.items())
    over = len(by_age) - keep if keep is not None else 0
    return [item for n, (at, item) in enumerate(by_age) if n < over or at < cutoff][:limit]


def sweep(
    items: list[str], forget: Callable[[str], None], cutoff: datetime, examined: int, what: str
) -> Sweep:
    """Forgets ``items`` one by one; one item's fault is recorded and the sweep goes on
    (the next sweep retries it)."""
    result = Sweep(cutoff=cutoff, examined=examined)
    for item in items:
        try:
            forget(item)
            result.forgotten.append(item)
        except Unfinished:
            result.unfinished.append(item)
        except Exception as exc:  # a store or sidecar fault: logged, retried next sweep
            result.failed[item] = str(exc)[:200]
    log.info(
        "retention sweep",
        extra={
            "what": what,
            "cutoff": cutoff.isoformat(),
            "examined": result.examined,
            "forgotten": len(result.forgotten),
            "unfinished": len(result.unfinished),
            "failed": len(result.failed),
        },
    )
    return result


def purge_instance(client, instance_id: str, status: str | None) -> None:
    """Purges a Dapr workflow instance (history, inbox, metadata) given its runtime
    ``status``: :class:`Unfinished` if it has not ended, nothing if it is already gone."""
    if status in NOT_ENDED:
        raise Unfinished(instance_id)
    if status is None:
        return
    try:
        client.purge_workflow(instance_id)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND and "not found" not in str(exc).lower():
            raise


def cutoff_for(days: float, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(days=days)


def bucket_of(item: str, buckets: int) -> int:
    """A stable bucket for an index entry (a hash of the item's id)."""
    return int(hashlib.sha256(item.encode()).hexdigest()[:8], 16) % buckets


def start_sweeper(interval_s: float, run: Callable[[], object], name: str) -> threading.Event:
    """Calls ``run`` in a daemon thread every ``interval_s`` (first after one interval,
    not at start-up, which is busy enough); set the returned event to stop."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval_s):
            try:
                run()
            except Exception:  # the index unreadable: try again next interval
                log.exception("retention sweep failed", extra={"what": name})

    threading.Thread(target=loop, name=f"{name}-retention", daemon=True).start()
    return stop
