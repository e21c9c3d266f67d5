"""agent-shell's model gate: a person's ask never waits behind an order's recommend call
(gate.py). Run on one event loop, with no model: the gate only decides who goes when."""

from __future__ import annotations

import asyncio

import pytest
from agent_shell.concierge import Concierge
from agent_shell.gate import ModelGate
from agent_shell.settings import AgentSettings


async def _hold(gate: ModelGate, kind: str, log: list[str], name: str, release: asyncio.Event):
    async with gate.admit(kind):
        log.append(name)
        await release.wait()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_an_ask_takes_the_slot_recommend_calls_may_not_use():
    async def scenario():
        gate, log, release = ModelGate(2, 1), [], asyncio.Event()
        tasks = [
            asyncio.create_task(_hold(gate, "background", log, f"recommend-{i}", release))
            for i in range(3)
        ]
        await _settle()
        assert log == ["recommend-0"]  # one slot for orders, one kept free
        tasks.append(asyncio.create_task(_hold(gate, "interactive", log, "ask", release)))
        await _settle()
        assert log == ["recommend-0", "ask"]  # admitted at once, ahead of the queue
        release.set()
        await asyncio.gather(*tasks)
        return log, gate.running

    log, running = asyncio.run(scenario())
    assert log[2:] == ["recommend-1", "recommend-2"]
    assert running == {"interactive": 0, "background": 0}


def test_waiting_asks_go_before_waiting_recommend_calls():
    async def scenario():
        gate, log = ModelGate(1, 1), []
        first = asyncio.Event()
        holder = asyncio.create_task(_hold(gate, "interactive", log, "ask-0", first))
        await _settle()
        go = asyncio.Event()
        go.set()
        later = [
            asyncio.create_task(_hold(gate, "background", log, "recommend", go)),
            asyncio.create_task(_hold(gate, "interactive", log, "ask-1", go)),
        ]
        await _settle()
        first.set()
        await asyncio.gather(holder, *later)
        return log

    assert asyncio.run(scenario()) == ["ask-0", "ask-1", "recommend"]


def test_asks_may_use_every_slot():
    async def scenario():
        gate, log, release = ModelGate(2, 1), [], asyncio.Event()
        tasks = [
            asyncio.create_task(_hold(gate, "interactive", log, f"ask-{i}", release))
            for i in range(2)
        ]
        await _settle()
        seen = list(log)
        release.set()
        await asyncio.gather(*tasks)
        return seen

    assert asyncio.run(scenario()) == ["ask-0", "ask-1"]


def test_a_wait_past_its_bound_gives_up_and_leaves_no_trace():
    async def scenario():
        gate, release = ModelGate(1, 1), asyncio.Event()
        holder = asyncio.create_task(_hold(gate, "background", [], "recommend", release))
        await _settle()
        with pytest.raises(TimeoutError):
            async with gate.admit("background", wait_s=0.01):
                raise AssertionError("ran without a slot")
        waiting = {k: len(v) for k, v in gate.waiting.items()}
        release.set()
        await holder
        async with gate.admit("interactive", wait_s=0.01):  # the slot came back
            pass
        return waiting, gate.running

    waiting, running = asyncio.run(scenario())
    assert waiting == {"interactive": 0, "background": 0}
    assert running == {"interactive": 0, "background": 0}


def test_a_cancelled_wait_frees_nothing_it_did_not_hold():
    async def scenario():
        gate, release = ModelGate(1, 1), asyncio.Event()
        holder = asyncio.create_task(_hold(gate, "interactive", [], "ask", release))
        await _settle()
        waiter = asyncio.create_task(_hold(gate, "interactive", [], "gone", release))
        await _settle()
        waiter.cancel()
        await _settle()
        state = (gate.running["interactive"], len(gate.waiting["interactive"]))
        release.set()
        await holder
        return state, gate.running

    state, running = asyncio.run(scenario())
    assert state == (1, 0)
    assert running == {"interactive": 0, "background": 0}


def test_background_slots_beyond_the_slots_are_refused():
    with pytest.raises(ValueError, match="background slots"):
        ModelGate(1, 2)


def test_without_priority_every_call_waits_in_one_line_for_any_slot():
    """LLM_PRIORITY=false: first come first served, and an order's recommend calls may
    then use every slot (none is kept for asks)."""

    async def scenario():
        gate, log, release = ModelGate(2, 1, priority=False), [], asyncio.Event()
        tasks = [
            asyncio.create_task(_hold(gate, kind, log, name, release))
            for kind, name in [
                ("background", "recommend-0"),
                ("background", "recommend-1"),
                ("background", "recommend-2"),
                ("interactive", "ask"),
            ]
        ]
        await _settle()
        seen = list(log)
        release.set()
        await asyncio.gather(*tasks)
        return seen, log, gate.running

    seen, log, running = asyncio.run(scenario())
    assert seen == ["recommend-0", "recommend-1"]
    assert log[2:] == ["recommend-2", "ask"]
    assert running == {"interactive": 0, "background": 0}


def test_the_concierge_degrades_a_call_that_would_start_past_half_its_deadline():
    """No model call starts with less than half of LLM_TIMEOUT_S left: the concierge's
    slot waits at most that long, then the call degrades without reaching the model."""

    async def scenario():
        settings = AgentSettings(_env_file=None, llm_slots=1, llm_timeout_s=2.0)
        concierge = Concierge(settings, brain=None)
        release = asyncio.Event()
        holder = asyncio.create_task(_hold(concierge.gate, "interactive", [], "ask", release))
        await _settle()
        start = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            async with concierge._slot("background"):
                raise AssertionError("reached the model")
        waited = asyncio.get_running_loop().time() - start
        release.set()
        await holder
        return waited

    assert 0.9 <= asyncio.run(scenario()) < 1.9  # half of 2 s, not all of it
