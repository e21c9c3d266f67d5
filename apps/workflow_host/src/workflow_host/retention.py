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
What agent-shell does with its asks is the same (``snacktopus_core.retention`` holds the
shared part: which items are due, the sweep, the instance purge, the sweeper thread).
"""

from __future__ import annotations

import threading
from datetime import datetime

from snacktopus_core import retention as core
from snacktopus_core.retention import Sweep, Unfinished

from workflow_host import store
from workflow_host.runs import TERMINAL
from workflow_host.settings import WorkflowSettings

__all__ = ["FORGOTTEN", "KEPT", "Sweep", "Unfinished", "expired", "forget", "sweep"]

# Every per-order key prefix the sweep deletes; ``KEPT`` the ones it keeps on purpose.
# tests/unit/test_retention.py fails when the code writes an order key listed in neither.
FORGOTTEN = ("run", "quote", "reservation", "slot", "decision")
KEPT = ("ledger",)


def expired(entries: dict[str, tuple[str, str]], cutoff: datetime, limit: int) -> list[str]:
    """The terminal orders last updated before ``cutoff``, oldest first, at most ``limit``."""
    ended = {order_id: at for order_id, (status, at) in entries.items() if status in TERMINAL}
    return core.due(ended, cutoff, limit)


def forget(order_id: str) -> None:
    """Purges the order's workflow instance, deletes its keys, then its index entry."""
    from workflow_host.approvals import wf_client, workflow_status

    core.purge_instance(wf_client(), order_id, workflow_status(order_id))
    store.state().transact({}, deletes=[f"{prefix}:{order_id}" for prefix in FORGOTTEN])
    store.drop_from_index(order_id)


def sweep(cutoff: datetime, limit: int) -> Sweep:
    """Forgets up to ``limit`` orders that ended before ``cutoff``; one order's failure is
    recorded and the sweep goes on (the next sweep retries it)."""
    entries = store.index_entries()
    return core.sweep(expired(entries, cutoff, limit), forget, cutoff, len(entries), "orders")


def cutoff_for(settings: WorkflowSettings, now: datetime | None = None) -> datetime:
    return core.cutoff_for(settings.run_retention_days, now)


def start_sweeper(settings: WorkflowSettings) -> threading.Event:
    """Sweeps every ``retention_sweep_interval_s``; set the returned event to stop."""
    return core.start_sweeper(
        settings.retention_sweep_interval_s,
        lambda: sweep(cutoff_for(settings), settings.retention_sweep_limit),
        "orders",
    )
