"""agent-shell's retention of asks without a stack: which asks a sweep picks (by age, and
the oldest past the index's bound), that one ask's fault does not stop it, that every
per-ask key agent-shell writes is either forgotten or kept on purpose, and that the keys
it deletes for dapr-agents are the ones dapr-agents builds."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from agent_shell import retention
from agent_shell.settings import AgentSettings
from dapr_agents.memory.daprstatestore import ConversationDaprStateMemory
from snacktopus_core import retention as core

SRC = Path(__file__).resolve().parents[2] / "apps" / "agent_shell" / "src" / "agent_shell"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SETTINGS = AgentSettings(_env_file=None, agent_name="Snack Concierge")


def stamp(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


ENDED = {
    "old": stamp(40),
    "older": stamp(50),
    "young": stamp(1),
    "naive-old": (NOW - timedelta(days=31)).replace(tzinfo=None).isoformat(),
}


def test_a_sweep_picks_asks_older_than_the_cutoff_oldest_first():
    cutoff = NOW - timedelta(days=30)
    assert core.due(ENDED, cutoff, 10) == ["older", "old", "naive-old"]
    assert core.due(ENDED, cutoff, 1) == ["older"]
    assert core.due(ENDED, NOW, 10)[-1] == "young"


def test_past_the_index_bound_the_oldest_are_due_whatever_their_age():
    cutoff = NOW - timedelta(days=30)
    young = {f"y{n}": stamp(n / 10) for n in range(5)}  # all within retention
    assert core.due(young, cutoff, 10, keep=5) == []
    assert core.due(young, cutoff, 10, keep=3) == ["y4", "y3"]  # the two oldest
    assert core.due({**young, **ENDED}, cutoff, 10, keep=7) == ["older", "old", "naive-old"]


def test_one_asks_fault_is_recorded_and_the_sweep_goes_on(monkeypatch):
    """A fault injected into ``forget`` for one ask (a stand-in, named as such): the
    others are still forgotten, the failing one is reported, an unfinished one waits."""
    monkeypatch.setattr(retention, "entries", lambda settings: ENDED)

    def faulty_forget(entry_id: str, settings) -> None:
        if entry_id == "old":
            raise RuntimeError("injected: state store unavailable")
        if entry_id == "naive-old":
            raise retention.Unfinished(entry_id)

    monkeypatch.setattr(retention, "forget", faulty_forget)
    result = retention.sweep(NOW - timedelta(days=30), 10, SETTINGS)
    assert result.examined == len(ENDED)
    assert result.forgotten == ["older"]
    assert result.unfinished == ["naive-old"]
    assert list(result.failed) == ["old"] and "injected" in result.failed["old"]


# Strings of the same shape that name no key.
NOT_KEYS = {
    "entry": "memory.Recall.used: which entries an answer recalled",
    "llm": "llm.py: a span's step name",
}


def test_every_per_ask_key_the_code_writes_is_forgotten_or_kept_on_purpose():
    """Keys are f-strings ``"<prefix>:{...}"`` in agent-shell's code; the per-user ones
    (memory, profiles) are kept on purpose, the per-ask ones forgotten."""
    written = set()
    for path in SRC.rglob("*.py"):
        if path.name == "retention.py":  # its own index and the keys it deletes
            continue
        written |= set(re.findall(r'f"([a-z_-]+):\{[^}]+\}', path.read_text()))
    assert written, "no key found: the pattern no longer matches the code"
    written -= NOT_KEYS.keys()
    assert written <= set(retention.FORGOTTEN) | set(retention.KEPT), written
    assert set(retention.FORGOTTEN) | set(retention.KEPT) <= written  # none listed in vain


def test_the_keys_deleted_for_dapr_agents_are_the_ones_it_writes():
    keys = retention.agent_keys("AbC123", SETTINGS)
    # dapr-agents' own function for its conversation memory (called on a stand-in self).
    memory = ConversationDaprStateMemory._memory_key(
        SimpleNamespace(agent_name="Snack Concierge"), "ask-AbC123"
    )
    assert keys[SETTINGS.memory_store] == memory == "snack-concierge:_memory_ask-abc123"
    # Its workflow state: the prefix its constructor sets, lowered with the instance id.
    import inspect

    from dapr_agents.agents import base, components

    assert "f\"{name.replace(' ', '-').lower() if name else 'default'}:_workflow\"" in (
        inspect.getsource(base.AgentBase.__init__)
    )
    assert 'key = f"{self.state_key_prefix}_{workflow_instance_id}".lower()' in (
        inspect.getsource(components.DaprInfra.save_state)
    )
    assert keys[retention.AGENT_STATE_STORE] == "snack-concierge:_workflow_ask-abc123"


def test_an_ask_is_indexed_once_with_its_first_end_time():
    assert retention._indexed(None, "e1", "t1") == {"e1": "t1"}
    assert retention._indexed({"e0": "t0"}, "e1", "t1") == {"e0": "t0", "e1": "t1"}
    assert retention._indexed({"e1": "t0"}, "e1", "t1") is None  # a second finisher


def test_a_running_instance_is_unfinished_and_a_gone_one_is_not_purged():
    class Client:  # a stand-in recording the purges asked of it
        purged: list[str] = []

        def purge_workflow(self, instance_id: str) -> None:
            self.purged.append(instance_id)

    client = Client()
    with pytest.raises(core.Unfinished):
        core.purge_instance(client, "ask-1", "RUNNING")
    core.purge_instance(client, "ask-2", None)
    core.purge_instance(client, "ask-3", "COMPLETED")
    assert client.purged == ["ask-3"]


def test_both_apps_read_the_same_retention_settings(monkeypatch):
    from workflow_host.settings import WorkflowSettings

    monkeypatch.setenv("RUN_RETENTION_DAYS", "7")
    monkeypatch.setenv("RETENTION_SWEEP_LIMIT", "9")
    for settings in (AgentSettings(_env_file=None), WorkflowSettings(_env_file=None)):
        assert (settings.run_retention_days, settings.retention_sweep_limit) == (7, 9)
