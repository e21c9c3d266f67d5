"""Fault drills: each rehearses an incident of the runbook on the real local stack and
prints what it did and what it saw.

    python tools/drills.py redis-kill | ollama-offline | approval-lag | compensation-loop
                           | kill-workflow | kill-sidecar | kill-agent

Each drill starts orders, injects the fault with real processes (SIGKILL through
supervisord, which restarts the program as it would in production; a stopped Ollama), waits
for every run to end, and checks the invariants in Redis: every run terminal (none lost),
no order placed twice, no reservation left held by a finished run. The same functions run
as tests in ``make test`` (tests/integration/test_drills.py). A drill reuses a running
test-profile stack, or starts one and stops it after.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from snacktopus_core.contracts import TERMINAL  # noqa: E402
from snacktopus_core.retry import poll_until  # noqa: E402

from tools.devstack import Stack  # noqa: E402
from tools.stack_settings import StackSettings  # noqa: E402

SMALL = {"request": "snacks for 4 people", "budget_usd": 20, "headcount": 4}
BIG = {"request": "snacks for the team offsite", "budget_usd": 300, "headcount": 60}
# An order's own approval window: long where the drill decides it (no machine is too slow
# to decide inside it), short where the drill wants it to time out.
LONG_WINDOW_S = 300
SHORT_WINDOW_S = 3


@dataclass
class Report:
    drill: str
    in_flight: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)
    # What the drill itself expected and did not see (ollama-offline: a run that kept its
    # model answer while the model was down).
    failed_expectations: list[str] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)  # runs with a degraded recommend
    orders: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.leaked or self.failed_expectations)

    def say(self, text: str) -> None:
        self.seen.append(text)
        print(f"[{self.drill}] {text}", flush=True)


class Drill:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        s = stack.s
        self.agent = f"http://127.0.0.1:{s.agent_app_port}"
        self.wf = f"http://127.0.0.1:{s.workflow_app_port}"
        self.agent_dapr = f"http://127.0.0.1:{s.agent_dapr_http_port}"
        # Sidecar calls need the stack's Dapr API token; the app ports ignore the header.
        self.http = httpx.Client(timeout=120, headers=s.sidecar_headers())
        self.redis = redis.Redis(port=s.redis_port, decode_responses=True)
        self.user = f"drill-{uuid.uuid4().hex[:6]}"

    # ------------------------------------------------------------------ helpers
    def _retry(self, fn: Callable[[], httpx.Response], timeout: float = 90) -> httpx.Response:
        """Calls that may meet a restarting process: retry refused connections and 5xx;
        past the timeout, the last response, or the last connection error raised."""
        last: httpx.Response | httpx.HTTPError | None = None

        def answered() -> bool:
            nonlocal last
            try:
                last = fn()
            except httpx.HTTPError as exc:
                last = exc
                return False
            return last.status_code < 500

        poll_until(answered, timeout, every=0.5)
        if isinstance(last, httpx.HTTPError):
            raise last
        if last is None:
            raise TimeoutError(f"no time left for a single call in {timeout} s")
        return last

    def start(self, n: int, body: dict[str, Any], **extra: Any) -> list[str]:
        ids = []
        for _ in range(n):
            order_id = f"drill-{uuid.uuid4().hex[:12]}"
            r = self._retry(
                lambda oid=order_id: self.http.post(
                    f"{self.wf}/orders",
                    json={"order_id": oid, "user_id": self.user, **body, **extra},
                )
            )
            r.raise_for_status()
            ids.append(order_id)
        return ids

    def run(self, order_id: str) -> dict[str, Any] | None:
        try:
            r = self.http.get(f"{self.wf}/orders/{order_id}", timeout=10)
        except httpx.HTTPError:
            return None
        return r.json().get("run") if r.status_code == 200 else None

    def wait(self, ids: list[str], statuses: set[str], timeout: float) -> dict[str, dict]:
        found: dict[str, dict] = {}

        def all_found() -> bool:
            for oid in ids:
                if oid not in found and (run := self.run(oid)) and run["status"] in statuses:
                    found[oid] = run
            return len(found) == len(ids)

        poll_until(all_found, timeout, every=0.3)
        return found

    def decide(self, order_id: str, decision: str, approver: str) -> httpx.Response:
        return self._retry(
            lambda: self.http.post(
                f"{self.wf}/orders/{order_id}/decision",
                json={"decision": decision, "approver": approver},
                headers=self.stack.s.approver_auth(approver),
            )
        )

    def raw(self, key: str) -> Any:
        value = self.redis.hget(f"workflow-host||{key}", "data")
        return json.loads(value) if value is not None else None

    def check(self, report: Report, ids: list[str], timeout: float = 240) -> dict[str, dict]:
        """Every run terminal, none placed twice, nothing left held by a finished run."""
        report.orders = list(ids)
        runs = self.wait(ids, TERMINAL, timeout)
        report.lost = [oid for oid in ids if oid not in runs]
        report.statuses = dict(Counter(r["status"] for r in runs.values()))
        for oid, run in runs.items():
            ledger = self.raw(f"ledger:{oid}")
            placed = [s for s in run["steps"] if s["step"] == "place_order"]
            if len(placed) > 1 or (ledger is not None) != (run["status"] == "completed"):
                report.duplicated.append(oid)
            reservation = self.raw(f"reservation:{oid}") or {}
            stuck = "release_inventory" in (run.get("reason") or "")
            if reservation.get("status") == "held" and not stuck:
                report.leaked.append(f"reservation:{oid}")
            slot = self.raw(f"slot:{oid}") or {}
            if run["status"] != "completed" and slot.get("status") == "held" and not stuck:
                report.leaked.append(f"slot:{oid}")
        report.say(
            f"runs: {report.statuses}; lost {len(report.lost)}, duplicated "
            f"{len(report.duplicated)}, leaked {len(report.leaked)}"
        )
        return runs

    def converse_ok(self) -> bool:
        try:
            r = self.http.post(
                f"{self.agent_dapr}/v1.0-alpha2/conversation/llm/converse",
                json={"inputs": [{"messages": [{"ofUser": {"content": [{"text": "hi"}]}}]}]},
                timeout=60,
            )
            return r.status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, url: str, timeout: float = 90) -> None:
        def ready() -> bool:
            try:
                return self.http.get(url, timeout=3).is_success
            except httpx.HTTPError:
                return False

        if not poll_until(ready, timeout, every=0.5):
            raise TimeoutError(f"{url} not ready after {timeout} s")

    # ------------------------------------------------------------------ drills
    def kill_and_recover(self, program: str, name: str) -> Report:
        """SIGKILL one program while runs are in flight and others wait for approval."""
        report = Report(name)
        t0 = time.monotonic()
        waiting = self.start(1, BIG, approval_timeout_s=LONG_WINDOW_S)
        self.wait(waiting, {"awaiting_approval"}, 120)
        flying = self.start(3, SMALL)
        report.in_flight = len(waiting) + len(flying)
        pid = self.stack.supervisor_pids().get(program)
        self.stack.kill(program)
        report.say(f"SIGKILL {program} (pid {pid}) with {report.in_flight} runs in flight")

        def restarted() -> bool:
            return self.stack.supervisor_pids().get(program) not in (None, pid)

        if not poll_until(restarted, 60, every=0.3):
            raise TimeoutError(f"{program} not restarted by supervisord")
        report.say(f"{program} restarted (pid {self.stack.supervisor_pids()[program]})")
        self.wait_ready(f"{self.wf}/readyz")
        self.wait_ready(f"{self.agent}/readyz")
        self.wait(waiting, {"awaiting_approval"}, 120)
        for oid in waiting:
            r = self.decide(oid, "approve", "dave")
            report.say(f"approve {oid}: {r.status_code}")
        self.check(report, waiting + flying)
        report.seconds = round(time.monotonic() - t0, 1)
        return report

    def redis_kill(self) -> Report:
        return self.kill_and_recover("redis", "redis-kill")

    def kill_workflow(self) -> Report:
        return self.kill_and_recover("workflow", "kill-workflow")

    def kill_sidecar(self) -> Report:
        return self.kill_and_recover("daprd-workflow", "kill-sidecar")

    def kill_agent(self) -> Report:
        return self.kill_and_recover("agent", "kill-agent")

    def ollama_offline(self) -> Report:
        report = Report("ollama-offline")
        t0 = time.monotonic()
        self.stack.ctl("stop", "ollama")
        report.say("ollama stopped")
        try:
            t = time.monotonic()
            ask = self.http.post(
                f"{self.agent}/ask", json={"user_id": self.user, "question": "snacks for 5 people"}
            )
            report.say(
                f"/ask: {ask.status_code} degraded={ask.json().get('degraded')} in "
                f"{time.monotonic() - t:.1f} s"
            )
            ids = self.start(3, SMALL)
            report.in_flight = len(ids)
            runs = self.check(report, ids, timeout=180)
            report.degraded = [
                oid for oid in ids if "recommend" in runs.get(oid, {}).get("degraded_branches", [])
            ]
            report.say(
                f"{len(report.degraded)}/{len(runs)} runs finished with a degraded recommendation"
            )
            if report.degraded != ids:
                kept = [oid for oid in ids if oid not in report.degraded]
                report.failed_expectations.append(
                    f"runs not degraded while Ollama was down: {', '.join(kept)}"
                )
        finally:
            self.stack.ctl("start", "ollama")
        if not poll_until(self.converse_ok, 120, every=2):
            raise TimeoutError("the model did not answer through Dapr again")
        ask = self.http.post(
            f"{self.agent}/ask", json={"user_id": self.user, "question": "snacks for 5 people"}
        )
        report.say(f"ollama back: /ask degraded={ask.json().get('degraded')}")
        report.seconds = round(time.monotonic() - t0, 1)
        return report

    def approval_lag(self) -> Report:
        report = Report("approval-lag")
        t0 = time.monotonic()
        # The early approver decides inside a long window, the late one after a short
        # window has run out: neither outcome depends on how fast the machine is.
        (early,) = self.start(1, BIG, approval_timeout_s=LONG_WINDOW_S)
        (late,) = self.start(1, BIG, approval_timeout_s=SHORT_WINDOW_S)
        report.in_flight = 2
        self.wait([early], {"awaiting_approval"}, 120)
        r = self.decide(early, "approve", "erin")
        report.say(f"approval inside the window: {r.status_code}")
        runs = self.wait([late], TERMINAL, 120)
        r = self.decide(late, "approve", "frank")
        report.say(f"approval after the timeout: {r.status_code} {r.json().get('detail')}")
        report.say(f"late order: {runs.get(late, {}).get('status')}")
        self.check(report, [early, late])
        report.seconds = round(time.monotonic() - t0, 1)
        return report

    def compensation_loop(self) -> Report:
        report = Report("compensation-loop")
        t0 = time.monotonic()
        (oid,) = self.start(
            1, BIG, approval_timeout_s=LONG_WINDOW_S, faults={"fail_undo": ["release_inventory"]}
        )
        report.in_flight = 1
        self.wait([oid], {"awaiting_approval"}, 120)
        self.decide(oid, "reject", "dave")
        runs = self.check(report, [oid], timeout=120)
        run = runs.get(oid, {})
        report.say(f"status {run.get('status')}: {run.get('reason')}")
        report.say(f"undo steps run: {run.get('compensations')}")
        report.seconds = round(time.monotonic() - t0, 1)
        return report


DRILLS = {
    "redis-kill": Drill.redis_kill,
    "ollama-offline": Drill.ollama_offline,
    "approval-lag": Drill.approval_lag,
    "compensation-loop": Drill.compensation_loop,
    "kill-workflow": Drill.kill_workflow,
    "kill-sidecar": Drill.kill_sidecar,
    "kill-agent": Drill.kill_agent,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("drill", choices=sorted(DRILLS))
    args = parser.parse_args()
    stack = Stack(StackSettings())
    started = False
    if stack.supervisord_pid() is None:
        stack.up("test", True, timeout=300)  # the test profile: short timeouts, faults on
        started = True
    elif stack.profile() != "test":
        print("drills need the test profile (fault injection on): `make down` first")
        return 2
    try:
        report = DRILLS[args.drill](Drill(stack))
    finally:
        if started:
            stack.down()
    print(json.dumps({**asdict(report), "ok": report.ok}, indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
