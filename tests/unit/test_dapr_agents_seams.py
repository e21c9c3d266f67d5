"""The two dapr-agents internals agent-shell replaces, pinned: an upgrade that moves or
reshapes either fails here, by name, instead of silently bringing back the cost each swap
removes (a Dapr client built per state and LLM call, ~100 ms per ask; a second LLM call
per ask to summarize into memory nobody reads). See agent_shell.agent."""

from __future__ import annotations

import inspect
import re

import dapr_agents.agents.base as agents_base
from agent_shell.agent import ConciergeAgent, _agent_client_factory
from dapr_agents import DurableAgent
from dapr_agents.agents.base import AgentBase


def test_make_dapr_client_factory_takes_one_optional_config():
    # _agent_client_factory stands in ``lambda config=None: factory`` for it.
    factory = getattr(agents_base, "make_dapr_client_factory", None)
    assert callable(factory), "dapr_agents.agents.base.make_dapr_client_factory is gone"
    params = list(inspect.signature(factory).parameters.values())
    assert [(p.name, p.default) for p in params] == [("config", None)], params


def test_agent_base_init_builds_its_factory_through_the_base_module_global():
    # The swap replaces the module attribute, so __init__ must look the name up there at
    # call time: a bare call to it, in code whose globals are that module's.
    init = AgentBase.__init__
    assert init.__globals__ is vars(agents_base), init.__module__
    calls = re.findall(r"(?<![\w.])make_dapr_client_factory\(", inspect.getsource(init))
    assert calls, "AgentBase.__init__ no longer calls make_dapr_client_factory"
    # And no subclass on our path builds a client factory of its own.
    assert DurableAgent.__init__ is AgentBase.__init__ or "make_dapr_client_factory" not in (
        inspect.getsource(DurableAgent.__init__)
    )


def test_the_swap_is_in_force_while_an_agent_is_built_and_undone_after():
    original = agents_base.make_dapr_client_factory

    def ours():
        return None

    with _agent_client_factory(ours):
        assert agents_base.make_dapr_client_factory(None) is ours
    assert agents_base.make_dapr_client_factory is original


def test_durable_agent_summarizes_through_the_method_concierge_overrides():
    method = getattr(DurableAgent, "_summarize_conversation", None)
    assert callable(method), "DurableAgent._summarize_conversation is gone"
    names = list(inspect.signature(method).parameters)
    assert names == ["self", "instance_id", "messages_list", "tool_history"], names
    # Our override takes the same arguments (called positionally) and is the one used.
    assert len(inspect.signature(ConciergeAgent._summarize_conversation).parameters) == 4
    assert ConciergeAgent._summarize_conversation is not method
    # DurableAgent's summarize activity calls it; if it summarized another way, the override
    # would no longer remove the extra LLM call.
    summarize = inspect.getsource(DurableAgent.summarize)
    assert "self._summarize_conversation(" in summarize, "summarize no longer calls it"
