"""The lease logic of pending asks: who may take over which ask, and when."""

import os
import socket

import pytest
from agent_shell.pending import (
    claimable,
    claimed,
    from_legacy,
    indexed,
    lease_expired,
    new_record,
    plan_sweep,
    renewed,
    replica_id,
    unindexed,
)
from agent_shell.settings import AgentSettings
from pydantic import ValidationError

LEASE = 15.0
T0 = 1_000_000.0  # when the ask was marked
ENTRY = {"entry_id": "e1", "user_id": "u", "session_id": "s", "question": {"text": "q"}}


def owned_by(owner: str, at: float = T0) -> dict:
    return new_record("ask-e1", ENTRY, owner, at, LEASE)


def test_a_live_owners_ask_is_not_claimable_until_its_lease_lapses():
    record = owned_by("replica-a")
    assert not claimable(record, T0 + LEASE - 0.1, held_here=False)
    assert claimed(record, T0 + LEASE - 0.1, LEASE, "replica-b", held_here=False) is None
    assert claimable(record, T0 + LEASE, held_here=False)


def test_a_claim_hands_over_the_lease_and_counts_the_takeover():
    took = claimed(owned_by("replica-a"), T0 + LEASE + 1, LEASE, "replica-b", held_here=False)
    assert took is not None
    assert took["owner"] == "replica-b"
    assert took["expires_at"] == T0 + LEASE + 1 + LEASE
    assert took["claims"] == 1
    assert took["entry"] == ENTRY and took["instance_id"] == "ask-e1"
    # A second replica sweeping at the same moment now finds a live owner and backs off.
    assert claimed(took, T0 + LEASE + 1, LEASE, "replica-c", held_here=False) is None


def test_an_ask_this_process_is_answering_is_never_claimed_here_even_past_its_lease():
    # Its renewals may have failed for a while: it is still being answered right here.
    record = owned_by("me")
    assert not claimable(record, T0 + 10 * LEASE, held_here=True)


def test_an_ask_of_this_process_that_it_no_longer_holds_is_claimable_once_expired():
    # Its clear failed after the answer: nobody else would ever finish it otherwise.
    assert claimable(owned_by("me"), T0 + LEASE, held_here=False)


def test_a_gone_record_is_not_claimable():
    assert not claimable(None, T0, held_here=False)
    assert claimed(None, T0, LEASE, "replica-b", held_here=False) is None


@pytest.mark.parametrize(
    "record",
    [
        {"instance_id": "ask-e1", "entry": ENTRY},  # the old pending-asks shape
        {"instance_id": "ask-e1", "entry": ENTRY, "owner": "replica-a"},  # no expiry
        {"instance_id": "ask-e1", "entry": ENTRY, "owner": None, "expires_at": T0 + 99},
        {"instance_id": "ask-e1", "entry": ENTRY, "owner": "a", "expires_at": "tomorrow"},
    ],
)
def test_a_record_without_owner_or_lease_counts_as_expired(record):
    assert lease_expired(record, T0)
    assert claimable(record, T0, held_here=False)
    took = claimed(record, T0, LEASE, "replica-b", held_here=False)
    assert took is not None and took["owner"] == "replica-b" and took["claims"] == 1


def test_an_old_pending_asks_entry_becomes_an_ownerless_record_claimable_at_once():
    record = from_legacy({"instance_id": "ask-e1", "entry": ENTRY})
    assert record["entry"] == ENTRY and record["instance_id"] == "ask-e1"
    assert claimable(record, T0, held_here=False)


def test_only_the_owner_renews_and_a_renewal_keeps_the_ask_from_claimants():
    record = owned_by("replica-a")
    kept = renewed(record, T0 + 5, LEASE, "replica-a")
    assert kept is not None and kept["expires_at"] == T0 + 5 + LEASE
    assert not claimable(kept, T0 + LEASE + 1, held_here=False)  # past the first lease
    assert renewed(record, T0 + 5, LEASE, "replica-b") is None
    assert renewed(None, T0 + 5, LEASE, "replica-a") is None


def test_a_former_owner_cannot_renew_after_a_takeover():
    took = claimed(owned_by("replica-a"), T0 + LEASE, LEASE, "replica-b", held_here=False)
    assert renewed(took, T0 + LEASE + 1, LEASE, "replica-a") is None


def test_a_sweep_claims_lapsed_asks_waits_for_live_ones_and_prunes_old_debris():
    now = T0 + LEASE + 1
    index = {
        "lapsed": T0,
        "live": now - 1,
        "mine": T0,
        "legacy": now,
        "young-no-record": now - 1,  # a mark between its index and record writes
        "old-no-record": T0,  # a crash between those writes, long ago
    }
    records = {
        "lapsed": owned_by("dead"),
        "live": owned_by("alive", now - 1),
        "mine": owned_by("me"),
        "legacy": from_legacy({"instance_id": "ask-legacy", "entry": ENTRY}),
    }
    plan = plan_sweep(index, records, held={"mine"}, now=now, lease_s=LEASE)
    assert sorted(plan.claim) == ["lapsed", "legacy"]
    assert plan.waiting == ["live"]
    assert plan.prune == ["old-no-record"]


def test_index_updates_keep_mark_times_and_say_when_nothing_changes():
    assert indexed(None, ["a"], T0) == {"a": T0}
    assert indexed({"a": T0}, ["a", "b"], T0 + 5) == {"a": T0, "b": T0 + 5}
    assert indexed({"a": T0}, ["a"], T0 + 5) is None
    assert unindexed({"a": T0, "b": T0}, ["a"]) == {"b": T0}
    assert unindexed({"b": T0}, ["a"]) is None
    assert unindexed(None, ["a"]) is None


def test_each_process_has_its_own_replica_id_naming_host_and_pid():
    a, b = replica_id(), replica_id()
    assert a != b
    assert a.startswith(f"{socket.gethostname()}-{os.getpid()}-")


@pytest.mark.parametrize("lease", [0, 2.9, 601])
def test_a_lease_too_short_for_its_renewals_or_absurdly_long_is_refused(lease):
    with pytest.raises(ValidationError, match="pending_lease_s"):
        AgentSettings(_env_file=None, pending_lease_s=lease)
