"""Retention of asks: a finished ask is forgotten ``RUN_RETENTION_DAYS`` after it ended.

Each ``/ask`` that reaches the model runs the DurableAgent as a Dapr workflow instance
``ask-<entry_id>``; left alone, each leaves for good that instance (history, inbox,
metadata in the ``agent-workflow`` actor store) and the two keys dapr-agents writes for it
(its workflow state in ``agent-workflow``, its conversation memory in ``agent-memory``).
``make bench-retention`` measures how much. The person's own memory (profile, sessions)
is not the ask's: it is kept, bounded by its own limits (memory.py).

So a finished ask is indexed (``asks-index:<nn>``: 16 buckets of ``{entry_id:
finished_at}`` in ``agent-memory``, the bucket a hash of the id), written with the answer
in :meth:`Concierge._finish <agent_shell.concierge.Concierge._finish>`, before the ask's
pending record is cleared: a crash in between leaves the ask pending, and whoever finishes
it indexes it again (a present id keeps its time). A sweep forgets what ended before the
cutoff, as workflow-host does with its orders (``snacktopus_core.retention``):

1. an ask still pending (its record ``pending-ask:<id>`` there) or whose instance has not
   ended (it outlived its deadline) is left for the next sweep;
2. Dapr purges the instance; dapr-agents' two keys go;
3. the index entry goes last, so a sweep cut short finishes at the next.

The index stays bounded: its entries leave as they are forgotten, and past
:data:`INDEX_KEEP` entries the oldest are due whatever their age. agent-shell sweeps every
``RETENTION_SWEEP_INTERVAL_S``; ``agent-shell-purge`` runs one sweep by hand.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from functools import cache

from snacktopus_core import retention as core
from snacktopus_core.retention import Sweep, Unfinished
from snacktopus_core.state import AsyncStateStore, StateStore

from agent_shell.pending import record_key
from agent_shell.settings import AgentSettings, get_settings

__all__ = ["FORGOTTEN", "KEPT", "Sweep", "Unfinished", "forget", "record", "sweep"]

INDEX_BUCKETS = 16
INDEX_KEEP = 20_000  # across all buckets: past this the oldest are due at the next sweep
# dapr-agents' actor state store, a fixed name in dapr-agents (DAPR-FACTS.md).
AGENT_STATE_STORE = "agent-workflow"

# Every per-ask key agent-shell's code writes, and what retention does with it
# (tests/unit/test_ask_retention.py fails when the code writes one listed in neither):
# ``pending-ask`` is deleted when the ask is answered (pending.py); the sweep refuses an
# ask that still has one. ``KEPT``: the person's memory, not the ask's.
FORGOTTEN = ("pending-ask",)
KEPT = ("profile", "session", "sessions")


def instance_id(entry_id: str) -> str:
    return f"ask-{entry_id}"


def index_key(entry_id: str) -> str:
    return f"asks-index:{core.bucket_of(entry_id, INDEX_BUCKETS):02d}"


def _agent(settings: AgentSettings) -> str:
    return settings.agent_name.replace(" ", "-").lower()


def agent_keys(entry_id: str, settings: AgentSettings) -> dict[str, str]:
    """dapr-agents' own keys for the ask's instance, by store: its workflow state
    (``AgentComponents.save_state``) and its conversation memory
    (``ConversationDaprStateMemory._memory_key``), as dapr-agents 1.0.9 builds them."""
    agent, instance = _agent(settings), instance_id(entry_id)
    return {
        AGENT_STATE_STORE: f"{agent}:_workflow_{instance}".lower(),
        settings.memory_store: f"{agent}:_memory_{instance}".lower(),
    }


# ------------------------------------------------------------------ the index
def _indexed(bucket: dict | None, entry_id: str, at: str) -> dict | None:
    """The bucket with the ask added; None (nothing to write) when it is there."""
    current = dict(bucket or {})
    return None if entry_id in current else {**current, entry_id: at}


async def record(entry_id: str, settings: AgentSettings) -> None:
    """Indexes a finished ask (its end time, UTC) for the sweep."""
    at = datetime.now(UTC).isoformat()
    store = AsyncStateStore(settings.memory_store)
    await store.update(index_key(entry_id), lambda b: _indexed(b, entry_id, at))


@cache
def _store(name: str) -> StateStore:
    return StateStore(name)


def entries(settings: AgentSettings) -> dict[str, str]:
    """``{entry_id: finished_at}`` of every bucket."""
    keys = [f"asks-index:{n:02d}" for n in range(INDEX_BUCKETS)]
    out: dict[str, str] = {}
    for bucket, _ in _store(settings.memory_store).get_many(keys).values():
        out.update(bucket or {})
    return out


# ------------------------------------------------------------------ the sweep
_client = None


def wf_client():
    global _client
    if _client is None:
        from dapr.ext.workflow import DaprWorkflowClient

        _client = DaprWorkflowClient()
    return _client


def forget(entry_id: str, settings: AgentSettings) -> None:
    """Purges the ask's instance, deletes dapr-agents' keys, then its index entry."""
    memory = _store(settings.memory_store)
    if memory.get(record_key(entry_id))[0] is not None:
        raise Unfinished(entry_id)  # still pending: recovery finishes it first
    state = wf_client().get_workflow_state(instance_id(entry_id), fetch_payloads=False)
    status = state.runtime_status.name if state else None
    core.purge_instance(wf_client(), instance_id(entry_id), status)
    for store, key in agent_keys(entry_id, settings).items():
        _store(store).delete(key)
    memory.update(
        index_key(entry_id),
        lambda b: {k: v for k, v in b.items() if k != entry_id} if b and entry_id in b else None,
    )


def sweep(cutoff: datetime, limit: int, settings: AgentSettings | None = None) -> Sweep:
    """Forgets up to ``limit`` asks that ended before ``cutoff`` (and the oldest beyond
    :data:`INDEX_KEEP`); one ask's fault is recorded and the sweep goes on."""
    settings = settings or get_settings()
    ended = entries(settings)
    due = core.due(ended, cutoff, limit, keep=INDEX_KEEP)
    return core.sweep(due, lambda e: forget(e, settings), cutoff, len(ended), "asks")


def start_sweeper(settings: AgentSettings) -> threading.Event:
    """Sweeps every ``retention_sweep_interval_s``; set the returned event to stop."""
    return core.start_sweeper(
        settings.retention_sweep_interval_s,
        lambda: sweep(
            core.cutoff_for(settings.run_retention_days), settings.retention_sweep_limit, settings
        ),
        "asks",
    )
