"""Retention: a finished order is forgotten ``RUN_RETENTION_DAYS`` after it ended.

Left alone, every order leaves its Dapr workflow instance (history, inbox, metadata in the
``workflowstate`` store), its run record, its quote, reservation, slot and decision keys,
and an entry in the runs index, forever: Redis grows with each order (``make
bench-retention`` measures by how much). A sweep forgets what ended before the cutoff:

1. Dapr purges the workflow instance (the workflow client's purge, which refuses a
   running one);
2. the order's own keys go in one transaction, except its ``ledger:`` entry, the record
   of a placed order, kept for accounting;
3. the index entry goes last, so a sweep cut short by a crash leaves the order listed and
   the next sweep finishes it (each step is idempotent).

workflow-host sweeps every ``RETENTION_SWEEP_INTERVAL_S``; ``snacktopus purge`` runs one
sweep by hand. With several replicas each sweeps: they do the same idempotent work.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import grpc

from workflow_host import store
from workflow_host.runs import TERMINAL
from workflow_host.settings import WorkflowSettings

log = logging.getLogger("workflow_host.retention")

# Every per-order key prefix the sweep deletes; ``KEPT`` the ones it keeps on purpose.
# tests/unit/test_retention.py fails when the code writes an order key listed in neither.
FORGOTTEN = ("run", "quote", "reservation", "slot", "decision")
KEPT = ("ledger",)


@dataclass
class Sweep:
    cutoff: datetime
    examined: int = 0
    forgotten: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class Unfinished(Exception):
    """The run record is terminal but its workflow instance has not completed yet (the
    last save comes just before the orchestration ends): left for the next sweep."""


def expired(entries: dict[str, tuple[str, str]], cutoff: datetime, limit: int) -> list[str]:
    """The terminal orders last updated before ``cutoff``, oldest first, at most ``limit``."""
    old = [
        (updated_at, order_id)
        for order_id, (status, updated_at) in entries.items()
        if status in TERMINAL and _parse(updated_at) < cutoff
    ]
    return [order_id for _, order_id in sorted(old)[:limit]]


def _parse(stamp: str) -> datetime:
    at = datetime.fromisoformat(stamp)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def forget(order_id: str) -> None:
    """Purges the order's workflow instance, deletes its keys, then its index entry."""
    from workflow_host.approvals import wf_client, workflow_status

    if workflow_status(order_id) in ("RUNNING", "PENDING", "SUSPENDED"):
        raise Unfinished(order_id)
    try:
        wf_client().purge_workflow(order_id)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND and "not found" not in str(exc).lower():
            raise
    store.state().transact({}, deletes=[f"{prefix}:{order_id}" for prefix in FORGOTTEN])
    store.drop_from_index(order_id)


def sweep(cutoff: datetime, limit: int) -> Sweep:
    """Forgets up to ``limit`` orders that ended before ``cutoff``; one order's failure is
    recorded and the sweep goes on (the next sweep retries it)."""
    entries = store.index_entries()
    result = Sweep(cutoff=cutoff, examined=len(entries))
    for order_id in expired(entries, cutoff, limit):
        try:
            forget(order_id)
            result.forgotten.append(order_id)
        except Unfinished:
            result.unfinished.append(order_id)
        except Exception as exc:  # a store or sidecar fault: logged, retried next sweep
            result.failed[order_id] = str(exc)[:200]
    log.info(
        "retention sweep",
        extra={
            "cutoff": cutoff.isoformat(),
            "examined": result.examined,
            "forgotten": len(result.forgotten),
            "unfinished": len(result.unfinished),
            "failed": len(result.failed),
        },
    )
    return result


def cutoff_for(settings: WorkflowSettings, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(days=settings.run_retention_days)


def start_sweeper(settings: WorkflowSettings) -> threading.Event:
    """Sweeps in a daemon thread every ``retention_sweep_interval_s`` (first after one
    interval, not at start-up, which is busy enough); set the returned event to stop."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(settings.retention_sweep_interval_s):
            try:
                sweep(cutoff_for(settings), settings.retention_sweep_limit)
            except Exception:  # the index unreadable: try again next interval
                log.exception("retention sweep failed")

    threading.Thread(target=loop, name="retention-sweeper", daemon=True).start()
    return stop
