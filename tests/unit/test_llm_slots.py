"""agent-shell's model slots (llm.slot): at most LLM_MAX_IN_FLIGHT model calls at once, and a
call whose deadline passes while it waits for a slot is never started."""

import asyncio
import time

from agent_shell import llm
from agent_shell.settings import AgentSettings


def _recorded_calls():
    """A model call standing in for the conversation (``call(name, seconds)``), and the
    names of the calls that were started, in order."""
    started: list[str] = []

    async def call(name: str, seconds: float) -> str:
        started.append(name)
        await asyncio.sleep(seconds)
        return name

    return started, call


def test_calls_beyond_the_slots_wait_their_turn():
    settings = AgentSettings(_env_file=None, llm_max_in_flight=2)
    running, peak = 0, 0

    async def call() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1

    async def main() -> None:
        await asyncio.gather(*(llm.limited(settings, call) for _ in range(6)))

    asyncio.run(main())
    assert peak == 2


def test_a_call_that_times_out_waiting_is_never_started():
    settings = AgentSettings(_env_file=None, llm_max_in_flight=1)
    started, call = _recorded_calls()

    async def main() -> None:
        first = asyncio.create_task(llm.limited(settings, lambda: call("first", 0.2)))
        await asyncio.sleep(0.01)
        try:
            await asyncio.wait_for(llm.limited(settings, lambda: call("late", 0)), 0.05)
        except TimeoutError:
            pass
        assert await first == "first"

    asyncio.run(main())
    assert started == ["first"]


def test_a_call_that_got_its_slot_too_late_degrades_without_reaching_the_model():
    settings = AgentSettings(_env_file=None, llm_max_in_flight=1, llm_timeout_s=0.2)
    started, call = _recorded_calls()

    async def main() -> None:
        first = asyncio.create_task(llm.limited(settings, lambda: call("first", 0.15)))
        await asyncio.sleep(0.01)
        since = time.perf_counter() - 0.01
        try:  # its slot is free after ~0.15 s: past half of the 0.2 s timeout
            await llm.limited(settings, lambda: call("late", 0), since=since)
        except TimeoutError:
            pass
        assert await first == "first"

    asyncio.run(main())
    assert started == ["first"]
