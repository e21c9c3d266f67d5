"""The one-second park (daprd 1.18.2 deactivating a workflow actor while activity results
are queued on it) is gone from our daprd flavour, which carries
``runtime/daprd/patches/park-empty-inbox.patch``. The reproduction (``make park-repro``: a
bare fan-out/fan-in workflow, no Snacktopus code) runs on a stack of its own beside the
test stack, every port moved; on the stock 1.18.2 build it parked 20 of 40 runs a second
each (test plan, Appendix B)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(420)
def test_our_daprd_parks_no_fan_in_run(tmp_path):
    out = tmp_path / "park.json"
    args = ["--runs", "12", "--port-offset", "1000", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "loadtest/park_repro.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert "+park-empty-inbox" in result["daprd_version"]
    assert (result["parked_runs"], result["retries_logged_in_runs"]) == (0, 0), result
