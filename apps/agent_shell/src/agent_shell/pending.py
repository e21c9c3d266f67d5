"""The asks being answered right now, each with an owner and a lease, so that whichever
replica starts or stops, every ask is finished by exactly one live replica.

An ask is *marked* before its model runs and *cleared* once answered. Its record holds the
owner (this process's :data:`REPLICA_ID`) and ``expires_at``; the owner pushes
``expires_at`` forward every third of a lease while it answers. An owner that stops
(crash, SIGKILL, lost node) stops renewing, and once the lease has lapsed any replica's
sweep may *claim* the record: a compare-and-set on its ETag, so of two replicas sweeping at
once one wins and the other reads the new owner and leaves it. A record whose lease is
live is left to its owner, however new the sweeping replica is: a restarted process has a
new id, so only expiry, never "not me", says an owner is gone.

Storage, and why not one dict of every pending ask under one key (the design before this
one): each mark, clear, renewal and claim would rewrite that whole dict, every entry in
full, so every concurrent ask on every replica races on one ETag. Now each ask has its own
record (``pending-ask:<entry_id>``: renewals and claims touch only it) and one small index
(``pending-ask-index``: entry id -> when marked) is the only shared key, written once at
mark and once at clear, with ids and times only. A mark writes the index before the
record, so a crash between the two leaves an id without a record (pruned by a later sweep),
never a record no sweep can find; a clear removes both at once, as by then a leftover of
either is harmless. Keys use ``:``: daprd refuses ``||`` in a key.

Every replica sweeps for its whole life, every third of a lease (one bulk read of the index,
one of the records it names), rather than only at start-up: the asks of a replica that dies
are taken over by whoever is alive once its lease lapses, whether or not a replacement ever
starts, and a sweep that finds a live owner's ask simply looks again next time.

Exactly once rests on three things: a live lease is never claimed; a claim is a
compare-and-set; and finishing writes the answer under the ask's ``entry_id``, which the
memory replaces rather than duplicates, so the one remaining race (an owner stalled past its
whole lease, still finishing while its claimant does) cannot leave two answers; its
evaluation event may then be published twice. Leases are wall-clock times compared across
hosts: clock skew between replicas must stay well under a lease.

Entries of the old dict (``pending-asks``: no owner, no lease) are moved to records with no
owner, which count as expired, and are claimed like any other.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from snacktopus_core.state import AsyncStateStore

from agent_shell.settings import AgentSettings, get_settings

log = logging.getLogger("agent_shell.pending")

INDEX_KEY = "pending-ask-index"
LEGACY_KEY = "pending-asks"
# A live owner renews three times per lease, so it may miss two renewals (a slow store,
# a long pause) before another replica can take its ask; sweeps run as often.
RENEWALS_PER_LEASE = 3
# An ask whose finishing keeps failing (a malformed record) is dropped after this many
# claims instead of being retried by every sweep for ever.
MAX_CLAIMS = 5


def record_key(entry_id: str) -> str:
    return f"pending-ask:{entry_id}"


def replica_id() -> str:
    """Host (the pod name on Kubernetes) + pid + random: unique per process, so a restarted
    process is never mistaken for the one it replaces."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


REPLICA_ID = replica_id()


# ------------------------------------------------------------------ the lease logic (pure)
def new_record(instance_id: str, entry: dict, owner: str, now: float, lease_s: float) -> dict:
    return {
        "instance_id": instance_id,
        "entry": entry,
        "owner": owner,
        "expires_at": now + lease_s,
        "claims": 0,
    }


def from_legacy(item: dict) -> dict:
    """An entry of the old ``pending-asks`` dict as a record: ownerless, so expired."""
    return {"instance_id": item.get("instance_id"), "entry": item.get("entry"), "claims": 0}


def lease_expired(record: dict, now: float) -> bool:
    """No owner or no expiry (the old shape) counts as expired: nobody is renewing it."""
    expires = record.get("expires_at")
    if not record.get("owner") or not isinstance(expires, int | float):
        return True
    return expires <= now


def claimable(record: dict | None, now: float, held_here: bool) -> bool:
    """Whether a sweep may take ``record`` over. Never an ask this process is answering
    (``held_here``) nor one whose lease is live; a record of this very process that it no
    longer holds (its clear failed) may be, as nobody else will finish it."""
    return record is not None and not held_here and lease_expired(record, now)


def claimed(
    record: dict | None, now: float, lease_s: float, owner: str, held_here: bool
) -> dict | None:
    """The record with ``owner`` holding a fresh lease, or None if it may not be claimed."""
    if record is None or not claimable(record, now, held_here):
        return None
    claims = record.get("claims", 0) + 1
    return {**record, "owner": owner, "expires_at": now + lease_s, "claims": claims}


def renewed(record: dict | None, now: float, lease_s: float, owner: str) -> dict | None:
    """The record with its lease pushed forward, or None once it is gone or someone else's
    (a claimant took it after this owner missed its renewals)."""
    if record is None or record.get("owner") != owner:
        return None
    return {**record, "expires_at": now + lease_s}


def indexed(index: dict | None, ids: list[str], now: float) -> dict | None:
    """The index with ``ids`` added (a present id keeps its time); None when unchanged."""
    current = dict(index or {})
    if all(i in current for i in ids):
        return None
    return {**dict.fromkeys(ids, now), **current}


def unindexed(index: dict | None, ids: list[str]) -> dict | None:
    """The index (or legacy dict) without ``ids``; None when none of them is there."""
    current = dict(index or {})
    if not any(i in current for i in ids):
        return None
    return {k: v for k, v in current.items() if k not in ids}


@dataclass(frozen=True)
class Sweep:
    claim: list[str]  # lease lapsed: take them over
    waiting: list[str]  # another replica's live lease: left to it, looked at next sweep
    prune: list[str]  # indexed, no record, marked over a lease ago: a crash between writes


def plan_sweep(
    index: dict[str, Any], records: dict[str, dict], held: set[str], now: float, lease_s: float
) -> Sweep:
    claim, waiting, prune = [], [], []
    for entry_id, marked in index.items():
        record = records.get(entry_id)
        if record is None:
            # A young id may be a mark between its two writes: only an old one is debris.
            if not isinstance(marked, int | float) or marked < now - lease_s:
                prune.append(entry_id)
        elif claimable(record, now, entry_id in held):
            claim.append(entry_id)
        elif entry_id not in held:
            waiting.append(entry_id)
    return Sweep(claim, waiting, prune)


# ------------------------------------------------------------------- the store side
class PendingAsks:
    def __init__(self, lease_s: float, replica: str = REPLICA_ID) -> None:
        self.lease_s = lease_s
        self.replica = replica
        self.every = lease_s / RENEWALS_PER_LEASE
        # The asks this process is answering, each with the task renewing its lease.
        self._held: dict[str, asyncio.Task] = {}
        self._marking: set[str] = set()  # marks still writing
        self.state = AsyncStateStore(get_settings().memory_store)

    async def mark(self, entry_id: str, instance_id: str, entry: dict) -> None:
        # An ask marks in parallel with its reads, and clears when one of them fails, maybe
        # before this mark has written: the mark then undoes itself rather than leave a
        # record this process would renew for ever and nobody would answer.
        self._marking.add(entry_id)
        now = time.time()
        try:
            # Index first: a crash between the two writes then loses no record.
            await self.state.update(INDEX_KEY, lambda v: indexed(v, [entry_id], now))
            record = new_record(instance_id, entry, self.replica, now, self.lease_s)
            await self.state.put(record_key(entry_id), record)
        finally:
            wanted = entry_id in self._marking
            self._marking.discard(entry_id)
        if not wanted:
            await self._forget(entry_id)
            return
        self._hold(entry_id)

    async def clear(self, entry_id: str) -> None:
        self._marking.discard(entry_id)
        self._release(entry_id)
        await self._forget(entry_id)

    async def _forget(self, entry_id: str) -> None:
        # Together: a leftover id is pruned by a sweep; a leftover record is claimed and
        # finished again, its answer rewritten in place under the same entry_id.
        await asyncio.gather(
            self.state.delete(record_key(entry_id)),
            self.state.update(INDEX_KEY, lambda v: unindexed(v, [entry_id])),
        )

    async def claim(self, entry_id: str) -> dict | None:
        """The record, now this replica's, or None if its owner is live or it is gone."""
        held = entry_id in self._held
        won = await self.state.update(
            record_key(entry_id),
            lambda r: claimed(r, time.time(), self.lease_s, self.replica, held),
        )
        if won is not None:
            self._hold(entry_id)
        return won

    async def sweep(self) -> Sweep:
        heads = await self.state.get_many([INDEX_KEY, LEGACY_KEY])
        index = dict(heads[INDEX_KEY][0] or {})
        if legacy := heads[LEGACY_KEY][0]:
            index.update(await self._migrate(legacy))
        stored = await self.state.get_many([record_key(i) for i in index])
        records = {i: value for i in index if (value := stored[record_key(i)][0]) is not None}
        plan = plan_sweep(index, records, set(self._held), time.time(), self.lease_s)
        if plan.prune:
            await self.state.update(INDEX_KEY, lambda v: unindexed(v, plan.prune))
        return plan

    async def _migrate(self, legacy: dict) -> dict[str, float]:
        """Moves the old dict's entries to ownerless records, in the same order as a mark
        (index, record), and only then drops them from the old dict."""
        ids, now = list(legacy), time.time()
        await self.state.update(INDEX_KEY, lambda v: indexed(v, ids, now))
        for entry_id, item in legacy.items():
            # Not created: another replica moved it first.
            await self.state.create(record_key(entry_id), from_legacy(item))
        await self.state.update(LEGACY_KEY, lambda v: unindexed(v, ids))
        return dict.fromkeys(ids, now)

    async def recover(self, finish: Callable[[dict], Awaitable[None]]) -> None:
        """For the life of the process: each sweep takes over and finishes the asks whose
        owner stopped renewing. A live owner's ask is looked at again next sweep."""
        while True:
            try:
                if done := await self.recover_once(finish):
                    log.info("recovered pending asks", extra={"count": done})
            except Exception as exc:  # the store may be away for a while: the next sweep
                # retries, so a warning per sweep, not a traceback
                log.warning("pending-ask sweep failed", extra={"error": str(exc)[:200]})
            await asyncio.sleep(self.every)

    async def recover_once(self, finish: Callable[[dict], Awaitable[None]]) -> int:
        done = 0
        # One claim at a time, just before finishing it: what this replica has not reached
        # yet stays claimable by the others meanwhile.
        for entry_id in (await self.sweep()).claim:
            record = await self.claim(entry_id)
            if record is None:  # another replica was first, or the owner finished it
                continue
            if record["claims"] > MAX_CLAIMS:
                log.error("pending ask dropped", extra={"entry_id": entry_id, "claims": MAX_CLAIMS})
                await self.clear(entry_id)
                continue
            try:
                await finish(record)
            except Exception:  # left pending: its lease lapses and a later sweep retries
                self._release(entry_id)
                log.exception("pending ask not finished", extra={"entry_id": entry_id})
                continue
            await self.clear(entry_id)
            done += 1
        return done

    # ------------------------------------------------------------------ lease renewal
    def _hold(self, entry_id: str) -> None:
        if entry_id not in self._held:
            self._held[entry_id] = asyncio.create_task(self._renew(entry_id))

    def _release(self, entry_id: str) -> None:
        if task := self._held.pop(entry_id, None):
            task.cancel()

    async def _renew(self, entry_id: str) -> None:
        """While this process answers ``entry_id``: its lease, pushed forward. Ends when the
        record is gone or another replica's; the ask stays held here until cleared."""
        while True:
            await asyncio.sleep(self.every)
            try:
                kept = await self.state.update(
                    record_key(entry_id),
                    lambda r: renewed(r, time.time(), self.lease_s, self.replica),
                )
            except Exception as exc:  # a store hiccup: a later renewal may still be in time
                log.warning(
                    "lease renewal failed", extra={"entry_id": entry_id, "error": str(exc)[:200]}
                )
                continue
            if kept is None:
                log.warning("lease lost", extra={"entry_id": entry_id})
                return


_shared: PendingAsks | None = None


def shared(settings: AgentSettings) -> PendingAsks:
    """The process's one PendingAsks: one replica id and one set of held asks for every
    caller, so a sweep knows which asks this process is answering."""
    global _shared
    if _shared is None:
        _shared = PendingAsks(settings.pending_lease_s)
    return _shared
