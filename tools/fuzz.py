"""Fuzz both OpenAPI specs with schemathesis against the real local stack, then prove that
nothing was lost.

    python tools/fuzz.py [--examples N] [--seed S]      (make fuzz)

Each app is fuzzed by the ``schemathesis`` CLI with every check it has (``--checks all``):
no 5xx, every status, content type, header and body as the OpenAPI document says, every
request the schema allows accepted and every one it refuses refused, 405 with a true
``Allow``. Operations that reach the model (``POST /ask``, ``POST /orders``) get every
*invalid* input schemathesis can make (negative mode, coverage and fuzzing phases, cheap:
they must all end in a 4xx) and only a handful of valid ones, since each valid call costs a
real LLM answer of seconds; every other operation is fuzzed in both modes, then in the
stateful phase (sequences following the links schemathesis infers, e.g. an order id from
``GET /orders`` into ``GET /orders/{order_id}`` and ``POST .../cancel``).

"Zero lost state": a sentinel profile and a sentinel completed order are read before and
after, and must be unchanged; every run the fuzz started must have a run record that
agrees with the runs index and reach a terminal status or wait for approval.

Why a wrapper and not schemathesis' pytest plugin: the CLI's JSON report gives the counts
the test plan quotes, and the same command serves people (``make fuzz``) and the test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from snacktopus_core.contracts import TERMINAL  # noqa: E402

from tools.devstack import Stack  # noqa: E402
from tools.stack_settings import StackSettings  # noqa: E402

REQUEST_TIMEOUT_S = "90"
# Matched against schemathesis' operation name, "<METHOD> <path>": both reach the model.
EXPENSIVE = r"^POST /(ask|orders)$"


@dataclass
class Pass:
    app: str
    what: str
    generated: int = 0
    failures: int = 0
    errors: int = 0
    exit_code: int = 0
    seconds: float = 0.0
    failure_titles: list[str] = field(default_factory=list)


@dataclass
class FuzzReport:
    passes: list[Pass] = field(default_factory=list)
    runs_started: int = 0
    runs_lost: list[str] = field(default_factory=list)
    sentinels_changed: list[str] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return sum(p.failures + p.errors for p in self.passes)

    @property
    def generated(self) -> int:
        return sum(p.generated for p in self.passes)

    def ok(self) -> bool:
        bad = self.failures or self.runs_lost or self.sentinels_changed
        return not bad and all(p.exit_code == 0 for p in self.passes)


def schemathesis(app: str, url: str, what: str, args: list[str], headers: dict) -> Pass:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            str(ROOT / ".venv" / "bin" / "schemathesis"),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "all",
            "--request-timeout",
            REQUEST_TIMEOUT_S,
            # `all` also turns on schemathesis' response-time limit, 10 s unless given: a
            # timed assertion, which no test here makes (a real model answer on a loaded
            # machine takes longer). Given the request timeout, it adds no bound of its own.
            "--max-response-time",
            REQUEST_TIMEOUT_S,
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--no-color",
            *[x for k, v in headers.items() for x in ("-H", f"{k}: {v}")],
            *args,
        ]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        p = Pass(app, what, exit_code=proc.returncode, seconds=time.perf_counter() - t)
        try:
            data = json.loads(report.read_text())
        except (OSError, ValueError):
            p.errors = 1
            p.failure_titles = [proc.stdout[-2000:] + proc.stderr[-2000:]]
            return p
    p.generated = data["test_cases"]["generated"]
    p.failures = data["test_cases"]["with_failures"]
    p.errors = data["test_cases"]["errored"] + len(data.get("errors", []))
    p.failure_titles = [_title(f) for f in data.get("failures", [])]
    if p.exit_code and not p.failure_titles:
        p.failure_titles = [proc.stdout[-2000:] + proc.stderr[-2000:]]
    return p


def _title(failure: dict[str, Any]) -> str:
    """One line per distinct failure: its code, title and the operations it was seen on."""
    ops = ", ".join(failure.get("operations", []))
    return f"{failure.get('code')} {failure.get('title')} ({failure.get('count')}x): {ops}"


def fuzz(settings: StackSettings, examples: int = 10, seed: int = 1) -> FuzzReport:
    http = httpx.Client(timeout=120, headers=settings.sidecar_headers())
    agent = f"http://127.0.0.1:{settings.agent_app_port}"
    wf = f"http://127.0.0.1:{settings.workflow_app_port}"

    # Sentinels: state that exists before and must be untouched after.
    user = f"sentinel-{uuid.uuid4().hex[:8]}"
    profile = {"allergies": ["peanut"], "diet": ["vegan"], "budget_usd": 42}
    http.put(f"{agent}/profile/{user}", json=profile).raise_for_status()
    order = f"sentinel-{uuid.uuid4().hex[:8]}"
    http.post(
        f"{wf}/orders",
        json={
            "order_id": order,
            "user_id": user,
            "request": "fruit",
            "budget_usd": 10,
            "headcount": 2,
        },
    ).raise_for_status()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        run = http.get(f"{wf}/orders/{order}").json().get("run") or {}
        if run.get("status") in TERMINAL:
            break
        time.sleep(0.5)
    before = {"profile": http.get(f"{agent}/profile/{user}").json(), "order": run}
    index_before = {o["order_id"] for o in http.get(f"{wf}/orders", params={"limit": 1000}).json()}

    common = ["--seed", str(seed), "--max-examples", str(examples)]
    report = FuzzReport()
    for app, url in (("agent-shell", agent), ("workflow-host", wf)):
        report.passes.append(
            schemathesis(
                app,
                url,
                "every operation but the model's, both modes",
                [
                    *common,
                    "--phases",
                    "examples,coverage,fuzzing,stateful",
                    "--exclude-name-regex",
                    EXPENSIVE,
                ],
                {},
            )
        )
        report.passes.append(
            schemathesis(
                app,
                url,
                "the model's operations, invalid inputs",
                [
                    *common,
                    "--mode",
                    "negative",
                    "--phases",
                    "coverage,fuzzing",
                    "--include-name-regex",
                    EXPENSIVE,
                ],
                {},
            )
        )
        report.passes.append(
            schemathesis(
                app,
                url,
                "the model's operations, a few valid inputs",
                [
                    "--seed",
                    str(seed),
                    "--max-examples",
                    "3",
                    "--mode",
                    "positive",
                    "--phases",
                    "fuzzing",
                    "--include-name-regex",
                    EXPENSIVE,
                ],
                {},
            )
        )

    # Zero lost state.
    after = {"profile": http.get(f"{agent}/profile/{user}").json()}
    after_order = http.get(f"{wf}/orders/{order}").json().get("run") or {}
    if after["profile"] != before["profile"]:
        report.sentinels_changed.append(f"profile {user}")
    if after_order != before["order"]:
        report.sentinels_changed.append(f"order {order}")
    index = {
        o["order_id"]: o["status"] for o in http.get(f"{wf}/orders", params={"limit": 1000}).json()
    }
    started = [oid for oid in index if oid not in index_before]
    report.runs_started = len(started)
    settled = TERMINAL | {"awaiting_approval"}
    pending = set(started)
    deadline = time.monotonic() + 300
    while pending and time.monotonic() < deadline:
        for oid in list(pending):
            r = http.get(f"{wf}/orders/{oid}")
            run = r.json().get("run") if r.status_code == 200 else None
            if run and run["status"] in settled:
                pending.discard(oid)
        time.sleep(1)
    report.runs_lost = sorted(pending)
    # No API deletes a profile: remove the sentinel through agent-shell's sidecar.
    sidecar = f"http://127.0.0.1:{settings.agent_dapr_http_port}"
    http.delete(f"{sidecar}/v1.0/state/agent-memory/profile:{user}")
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=10, help="max examples per operation")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    settings = StackSettings()
    stack = Stack(settings)
    if stack.supervisord_pid() is None:
        print("the stack is not running: `make up` (or `make up-test`) first")
        return 2
    report = fuzz(stack.s, args.examples, args.seed)
    for p in report.passes:
        print(
            f"{p.app:<14} {p.what:<46} {p.generated:>5} cases  {p.failures} failing  "
            f"{p.errors} errors  {p.seconds:5.1f} s"
        )
        for title in p.failure_titles:
            print(f"    {title}")
    print(
        f"total {report.generated} cases, {report.failures} failing or errored; "
        f"runs started {report.runs_started}, lost {len(report.runs_lost)}; "
        f"sentinels changed {report.sentinels_changed or 'none'}"
    )
    out: dict[str, Any] = asdict(report)
    out.update(generated=report.generated, failures=report.failures)
    (stack.run / "fuzz-report.json").write_text(json.dumps(out, indent=2))
    return 0 if report.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
