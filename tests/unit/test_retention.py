"""Retention's choices without a stack: which orders a sweep forgets, that one order's
fault does not stop it, and that every per-order key the code writes is either forgotten
or kept on purpose."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from workflow_host import retention

SRC = Path(__file__).resolve().parents[2] / "apps" / "workflow_host" / "src" / "workflow_host"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def stamp(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


ENTRIES = {
    "old-done": ("completed", stamp(40)),
    "older-rejected": ("rejected", stamp(50)),
    "old-waiting": ("awaiting_approval", stamp(45)),  # not finished: never forgotten
    "young-done": ("completed", stamp(1)),
    "naive-old": ("timed_out", (NOW - timedelta(days=31)).replace(tzinfo=None).isoformat()),
}


def test_a_sweep_picks_finished_orders_older_than_the_cutoff_oldest_first():
    cutoff = NOW - timedelta(days=30)
    assert retention.expired(ENTRIES, cutoff, 10) == ["older-rejected", "old-done", "naive-old"]
    assert retention.expired(ENTRIES, cutoff, 1) == ["older-rejected"]
    assert retention.expired(ENTRIES, NOW, 10)[-1] == "young-done"


def test_one_orders_fault_is_recorded_and_the_sweep_goes_on(monkeypatch):
    """A fault injected into ``forget`` for one order (a stand-in, named as such): the
    others are still forgotten, the failing one is reported, an unfinished one waits."""
    monkeypatch.setattr(retention.store, "index_entries", lambda: ENTRIES)

    def faulty_forget(order_id: str) -> None:
        if order_id == "old-done":
            raise RuntimeError("injected: state store unavailable")
        if order_id == "naive-old":
            raise retention.Unfinished(order_id)

    monkeypatch.setattr(retention, "forget", faulty_forget)
    result = retention.sweep(NOW - timedelta(days=30), 10)
    assert result.examined == len(ENTRIES)
    assert result.forgotten == ["older-rejected"]
    assert result.unfinished == ["naive-old"]
    assert list(result.failed) == ["old-done"] and "injected" in result.failed["old-done"]


def test_every_order_key_the_code_writes_is_forgotten_or_kept_on_purpose():
    written = set()
    for path in SRC.rglob("*.py"):
        written |= set(re.findall(r'f"([a-z_-]+):\{[^}]*order_id[^}]*\}"', path.read_text()))
    assert written, "no per-order key found: the pattern no longer matches the code"
    assert written <= set(retention.FORGOTTEN) | set(retention.KEPT), written
    assert set(retention.FORGOTTEN) <= written  # nothing listed that no code writes


def test_the_cutoff_is_the_retention_period_before_now():
    settings = retention.WorkflowSettings(run_retention_days=30)
    assert retention.cutoff_for(settings, NOW) == NOW - timedelta(days=30)
