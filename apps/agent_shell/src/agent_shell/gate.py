"""Admission to the model: a person's ask goes before an order's recommend call.

Ollama answers ``OLLAMA_NUM_PARALLEL`` requests at once and queues the rest in arrival
order. Under ``make load`` the workflow's recommend calls filled both slots and its queue,
so a person's ``/ask`` waited behind them for 30 s and degraded. This gate sits in front
of every model call agent-shell makes and keeps Ollama's own queue empty:

- at most ``slots`` calls in flight (the model's parallel slots);
- interactive calls (``/ask``) are admitted first, and may use every slot;
- background calls (``/recommend``) at most ``background_slots`` at once, and only while
  no interactive call waits, so a slot is always free when a person asks (with
  ``background_slots < slots``) and an ask never queues behind an order.

The orders' recommend calls queue here instead, bounded by the caller's deadline (a
recommend call past it gets the template explanation, as when the model is slow).

With ``priority`` off (``LLM_PRIORITY=false``, what the load test compares) every call
waits in one line, first come first served, for any of the slots: the gate then only
keeps the queue out of Ollama, where a call its caller gave up on is still answered, for
nobody (test plan, Appendix C).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from agent_shell import metrics

Kind = Literal["interactive", "background"]


class ModelGate:
    def __init__(self, slots: int, background_slots: int, *, priority: bool = True) -> None:
        if not 1 <= background_slots <= slots:
            raise ValueError(f"background slots {background_slots} not in 1..{slots}")
        self.slots, self.background_slots = slots, background_slots
        self.priority = priority
        self.running: dict[Kind, int] = {"interactive": 0, "background": 0}
        self.waiting: dict[Kind, deque[asyncio.Future[None]]] = {
            "interactive": deque(),
            "background": deque(),
        }

    @asynccontextmanager
    async def admit(self, kind: Kind, wait_s: float | None = None) -> AsyncIterator[None]:
        """Holds a slot for the block; waits for one first, at most ``wait_s`` seconds
        (then ``TimeoutError``, the block never runs)."""
        label, kind = kind, kind if self.priority else "interactive"  # one line
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting[kind].append(ticket)
        metrics.MODEL_QUEUE.labels(label).inc()
        start = time.perf_counter()
        try:
            self._admit_next()
            await asyncio.wait_for(ticket, wait_s)
        except BaseException:
            if ticket.done() and not ticket.cancelled():
                self._release(kind)  # admitted as it was cancelled: give the slot back
            else:
                self.waiting[kind].remove(ticket)
            raise
        finally:
            metrics.MODEL_QUEUE.labels(label).dec()
        metrics.MODEL_WAIT.labels(label).observe(time.perf_counter() - start)
        try:
            yield
        finally:
            self._release(kind)

    def _release(self, kind: Kind) -> None:
        self.running[kind] -= 1
        self._admit_next()

    def _free(self) -> int:
        return self.slots - sum(self.running.values())

    def _admit_next(self) -> None:
        while self._free() > 0:
            if self.waiting["interactive"]:
                kind: Kind = "interactive"
            elif self.waiting["background"] and self.running["background"] < self.background_slots:
                kind = "background"
            else:
                return
            self.running[kind] += 1
            self.waiting[kind].popleft().set_result(None)
