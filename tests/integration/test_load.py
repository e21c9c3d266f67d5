"""The Locust scenario (``loadtest/locustfile.py``) as a short load on the real stack,
through ``loadtest/run_load.py`` with its approver loop: every run the load started ends
as its kind says, compensation stages included, with its run record in Redis and its one
event agreeing with it and with what ``run_load.py`` wrote (``runs.csv``,
``summary.json``)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from snacktopus_core.events import OrderCompensated, OrderCompleted

from tests.integration.conftest import redis_json

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
WF = "workflow-host"
UNDO = ["release_delivery_slot", "release_inventory", "release_quote"]
# The record each side effect leaves (``<key>:<order_id>``), released by its undo step.
RECORD_OF = {
    "price_quote": "quote",
    "reserve_inventory": "reservation",
    "hold_delivery_slot": "slot",
}
# What each kind of the scenario ends as: status, undo steps in the order they ran.
EXPECTED = {
    "auto": ("completed", []),
    "approve": ("completed", []),
    "reject": ("rejected", UNDO),
    "timeout": ("timed_out", UNDO),
    "unsafe": ("blocked", ["release_quote"]),
}
# Taken in turn, compensation stages first: a 30 s load starts each at least once.
KINDS = ["reject", "timeout", "unsafe", "approve", "auto"]


@pytest.fixture(scope="module")
def load(stack, tmp_path_factory) -> dict[str, Any]:
    """2 users (a shopper, an asker) for 30 s, the shopper ordering every 2 to 4 s."""
    out = tmp_path_factory.mktemp("load")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "loadtest" / "run_load.py"),
            "--users=2",
            "--spawn-rate=2",
            "--duration=30",
            f"--kinds={','.join(KINDS)}",
            "--shopper-wait=2,4",
            "--model-limit=10",
            "--idle-asks=1",
            f"--out={out}",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    if not (out / "summary.json").exists():
        pytest.fail(
            f"run_load.py wrote no summary (exit {done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    with (out / "runs.csv").open() as f:
        rows = list(csv.DictReader(f))
    return {
        "done": done,
        "started": (out / "started.txt").read_text().split(),
        "rows": {row["order_id"]: row for row in rows},
        "summary": json.loads((out / "summary.json").read_text()),
    }


def test_a_short_load_ends_every_run_it_started(load):
    done, summary, rows = load["done"], load["summary"], load["rows"]
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    started = load["started"]
    assert started and sorted(rows) == sorted(started), (started, rows)
    assert summary["runs_started"] == summary["runs_terminal"] == len(started)
    assert summary["runs_lost"] == [] and summary["runs_event_disagrees"] == []
    assert summary["failed_requests"] == 0, summary["requests"]
    # /ask alone first, then under the load (the asker asks as it starts): both measured.
    assert summary["ask_idle"]["n"] == 1 and summary["ask_idle"]["answer_p95_ms"] > 0
    assert summary["ask_p95_load_over_idle"] > 0, summary["requests"]
    assert {row["kind"] for row in rows.values()} == set(KINDS), rows
    for row in rows.values():
        assert (row["status"], row["event_agrees"]) == (EXPECTED[row["kind"]][0], "True"), row


def test_the_load_measures_its_model_traffic_against_the_raw_model(load):
    """The raw phase drove Ollama through the conversation API and the load's own model
    answers were counted over its window: llm_utilization is their ratio."""
    summary = load["summary"]
    raw, rates = summary["model_limit"], summary["sustained"]
    assert raw["answers"] > 0 and raw["failures"] == 0, raw
    assert raw["completion_tokens_per_s"] > 0, raw
    assert rates["answers_per_s"] > 0, rates
    assert summary["llm_utilization"] == rates["llm_utilization"]
    expected = rates["answers_per_s"] / raw["answers_per_s"]
    assert summary["llm_utilization"] == pytest.approx(expected, abs=0.02)


def test_each_runs_record_in_redis_shows_its_compensation_stages(load, redis_client):
    for oid, row in load["rows"].items():
        status, undo = EXPECTED[row["kind"]]
        run = redis_json(redis_client, WF, f"run:{oid}")
        assert run is not None, f"{oid}: no run record in Redis"
        assert run["status"] == row["status"] == status, (oid, run["status"], row)
        assert run["compensations"] == undo, (oid, run["compensations"])
        ledger = redis_json(redis_client, WF, f"ledger:{oid}")
        if status == "completed":
            assert ledger is not None and ledger["total_usd"] == run["total_usd"], oid
            assert run["side_effects"][-1] == "place_order", (oid, run["side_effects"])
            if row["kind"] == "approve":
                assert run["approval"]["approver"] == "load-approver", (oid, run["approval"])
            continue
        assert ledger is None, f"{oid} was placed but ended {status}"
        # Every side effect the run held was undone: each record says released.
        for effect in run["side_effects"]:
            record = redis_json(redis_client, WF, f"{RECORD_OF[effect]}:{oid}")
            assert record["status"] == "released", (oid, effect, record)
        decision = {"rejected": "reject", "timed_out": "timeout"}.get(status)
        assert run["approval"]["decision"] == decision, (oid, run["approval"])


def test_each_run_published_one_event_agreeing_with_its_record(load, redis_client, stack):
    probe = f"http://127.0.0.1:{stack.settings.probe_app_port}/events"
    events: dict[str, list[tuple[str, dict]]] = {oid: [] for oid in load["rows"]}
    for topic in ("order.completed", "order.compensated", "order.alert"):
        for e in httpx.get(probe, params={"topic": topic}, timeout=30).json():
            data = e["cloudevent"].get("data")
            if isinstance(data, dict) and data.get("order_id") in events:
                events[data["order_id"]].append((topic, data))
    for oid, got in events.items():
        run = redis_json(redis_client, WF, f"run:{oid}")
        assert len(got) == 1, (oid, run["status"], got)
        ((topic, data),) = got
        if run["status"] == "completed":
            assert topic == "order.completed", (oid, topic)
            event = OrderCompleted.model_validate(data)
            assert event.total_usd == run["total_usd"]
            assert event.approval == ("approved" if run["approval"]["required"] else "auto")
        else:
            assert topic == "order.compensated", (oid, topic)
            event = OrderCompensated.model_validate(data)
            assert event.status == run["status"], (oid, event.status, run["status"])
            assert event.compensations == run["compensations"], oid
        assert event.trace_id == run["trace_id"], oid
