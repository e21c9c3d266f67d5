"""snacktopus_core.retry: the attempt budget of :func:`retry` and what :func:`poll_until`
gives back."""

from __future__ import annotations

import asyncio

import pytest
from snacktopus_core.retry import poll_until, retry, retry_async


class Flaky:
    """Raises the queued errors, one per call, then answers ``"ok"``."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def _transient(exc: Exception) -> bool:
    return isinstance(exc, TimeoutError)


def test_retry_retries_what_the_classifier_accepts_and_pauses_between():
    fn, pauses = Flaky(TimeoutError("1"), TimeoutError("2")), []
    assert (
        retry(fn, attempts=4, retryable=_transient, pause=lambda n: pauses.append(n) or 0) == "ok"
    )
    assert fn.calls == 3 and pauses == [0, 1]


def test_retry_reraises_the_last_error_once_the_budget_is_spent():
    fn = Flaky(*(TimeoutError(str(n)) for n in range(5)))
    with pytest.raises(TimeoutError, match="3"):
        retry(fn, attempts=4, retryable=_transient)
    assert fn.calls == 4


def test_retry_reraises_any_other_error_at_once():
    fn = Flaky(ValueError("bug"), TimeoutError("later"))
    with pytest.raises(ValueError, match="bug"):
        retry(fn, attempts=4, retryable=_transient)
    assert fn.calls == 1


def test_retry_async_has_the_same_budget():
    fn = Flaky(*(TimeoutError(str(n)) for n in range(5)))

    async def call() -> str:
        return fn()

    with pytest.raises(TimeoutError, match="2"):
        asyncio.run(retry_async(call, attempts=3, retryable=_transient))
    assert fn.calls == 3


def test_poll_until_returns_the_first_truthy_answer():
    answers = iter([None, 0, "", "ready", "later"])
    assert poll_until(lambda: next(answers), timeout=30, every=0) == "ready"


def test_poll_until_returns_the_last_answer_once_the_deadline_passes():
    answers = []

    def probe() -> list[int]:
        answers.append(len(answers))
        return []  # never ready

    assert poll_until(probe, timeout=0.05, every=0.01) == []
    assert answers  # it looked at least once


def test_poll_until_with_no_time_left_makes_no_call():
    assert poll_until(lambda: pytest.fail("called"), timeout=0, every=0) is None
