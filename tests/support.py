"""What the integration, image and live-cluster tests share: polling and the order bodies."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

# An order above every test threshold (a human must decide) and one below it.
BIG_ORDER = {"request": "snacks for the team offsite", "budget_usd": 300, "headcount": 60}
SMALL_ORDER = {"request": "gluten-free snacks for 4 people", "budget_usd": 20, "headcount": 4}


def wait_until(fn: Callable[[], Any], timeout: float = 30.0, every: float = 0.2) -> Any:
    """Polls ``fn`` until it returns something truthy; fails the test with the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"condition not met within {timeout} s (last value: {last!r})")
