"""Times a person's ``/ask`` as they see it: to the basket event of the streamed answer, and
to its end (``done``: the whole answer, model text checked). Used by ``make bench``'s
real-model phase (``ask_time_to_basket_p95_ms``) and ``make load``'s idle baseline
(``ask_p95_load_over_idle``)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from snacktopus_core import sse

from loadtest.stats import pct

QUESTIONS = ["Snacks for 6 people", "Something healthy for 10", "Fruit for 4 people"]


@dataclass(frozen=True)
class Timed:
    basket_ms: float
    done_ms: float
    degraded: bool


def streamed_ask(http: httpx.Client, agent: str, user: str, question: str) -> Timed:
    """One streamed ask: ms to the ``basket`` event and to ``done``."""
    body = {"user_id": user, "question": question}
    t = time.perf_counter()
    basket_ms = None
    with http.stream(
        "POST", f"{agent}/ask", json=body, headers={"accept": sse.MEDIA_TYPE}, timeout=180
    ) as r:
        r.raise_for_status()
        for event in sse.parse(r.iter_lines()):
            ms = (time.perf_counter() - t) * 1000
            if event.event == "basket" and basket_ms is None:
                basket_ms = ms
            elif event.event == "done":
                if basket_ms is None:
                    raise RuntimeError("the stream ended without a basket event first")
                return Timed(basket_ms, ms, bool(event.json()["degraded"]))
            elif event.event == "error":
                raise RuntimeError(f"the streamed answer failed: {event.data}")
    raise RuntimeError("the stream ended without a done event")


def plain_ask(http: httpx.Client, agent: str, user: str, question: str) -> Timed:
    """One JSON ask (what ``make load``'s askers send): ms to the whole answer."""
    t = time.perf_counter()
    r = http.post(f"{agent}/ask", json={"user_id": user, "question": question}, timeout=180)
    r.raise_for_status()
    ms = (time.perf_counter() - t) * 1000
    return Timed(float("nan"), ms, bool(r.json()["degraded"]))


def new_user(http: httpx.Client, agent: str, prefix: str) -> str:
    user = f"{prefix}-{uuid.uuid4().hex[:6]}"
    http.put(f"{agent}/profile/{user}", json={"budget_usd": 40}).raise_for_status()
    return user


def summary(rows: list[Timed]) -> dict[str, Any]:
    basket = [r.basket_ms for r in rows if r.basket_ms == r.basket_ms]
    done = [r.done_ms for r in rows]
    out: dict[str, Any] = {
        "n": len(rows),
        "degraded": sum(r.degraded for r in rows),
        "answer_p50_ms": round(pct(done, 50), 1),
        "answer_p95_ms": round(pct(done, 95), 1),
    }
    if basket:
        out["basket_p50_ms"] = round(pct(basket, 50), 1)
        out["basket_p95_ms"] = round(pct(basket, 95), 1)
    return out


def asks(http: httpx.Client, agent: str, n: int, *, stream: bool, prefix: str) -> dict[str, Any]:
    """``n`` asks one after another, each a new session of one user, the load test's
    questions in turn."""
    user = new_user(http, agent, prefix)
    one = streamed_ask if stream else plain_ask
    rows = [one(http, agent, user, QUESTIONS[i % len(QUESTIONS)]) for i in range(n)]
    return summary(rows)
