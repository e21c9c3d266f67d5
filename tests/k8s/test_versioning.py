"""Workflow versioning as a rolling upgrade on the cluster: workflow-host rolls from the
release before the approval policies to this code while a run it started waits for a
human. The waiting run replays on its old path (``ctx.is_patched("approval-policies-v1")``
is false in its history): one approval completes it although it is above the dual-approval
threshold. A run started after the roll takes the new path: two approvers.

The previous release's image is this build's image with the previous release's two
packages (``workflow_host``, ``snacktopus_core`` from the commit before ``policies.py``)
in place of its own: the same dependencies, the code that ran before the change."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.k8s.conftest import (
    ROOT,
    app_image,
    judge,
    kubectl,
    load_images,
    pods_of,
    start_order,
    upgrade,
    wait_run,
)
from tests.support import HUGE_ORDER

WF = ("workflow-host",)

POLICIES = "apps/workflow_host/src/workflow_host/policies.py"
SITE = "/app/.venv/lib/python3.13/site-packages"
DOCKERFILE = """FROM {image}
RUN rm -rf {site}/workflow_host {site}/snacktopus_core
COPY --chown=10001:10001 workflow_host {site}/workflow_host
COPY --chown=10001:10001 snacktopus_core {site}/snacktopus_core
"""


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def _previous_release_image(current: str) -> str:
    """Builds and loads ``<repo>:pre-policies`` (see the module docstring)."""
    first = _git("rev-list", "--reverse", "HEAD", "--", POLICIES).splitlines()[0]
    tag = f"{current.rsplit(':', 1)[0]}:pre-policies"
    with tempfile.TemporaryDirectory() as tmp:
        src = ["apps/workflow_host/src/workflow_host", "libs/snacktopus_core/src/snacktopus_core"]
        archive = subprocess.run(
            ["git", "archive", f"{first}^", *src], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        for path in src:
            Path(tmp, path).rename(Path(tmp, Path(path).name))
        assert not Path(tmp, "workflow_host", "policies.py").exists()
        Path(tmp, "Dockerfile").write_text(DOCKERFILE.format(image=current, site=SITE))
        subprocess.run(
            ["docker", "build", "-q", "-t", tag, tmp], check=True, capture_output=True, timeout=300
        )
    load_images(tag)
    return tag


def _approve(cli, order_id: str, approver: str) -> None:
    done = cli("approve", order_id, "--comment", f"{approver} after the roll", approver=approver)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.timeout(1500)
def test_a_run_waiting_across_a_rolling_upgrade_finishes_on_its_old_path(
    cluster, http, apps, probe, cli
):
    current = app_image("workflow-host")
    old = _previous_release_image(current)
    dual = "workflow.policies.dualApprovalUsd=60"
    # Settled: a replica of this code still draining would run the order's orchestration or
    # its activities (the previous release cannot read this code's run records).
    upgrade(cluster, f"workflow.image.tag={old.rsplit(':', 1)[1]}", dual, settle=WF)
    try:
        assert {app_image("workflow-host")} == {old}
        before = start_order(http, apps, approval_timeout_s=900, **HUGE_ORDER)
        run = wait_run(http, apps, before, {"awaiting_approval"})
        assert "votes" not in run["approval"]  # the previous release's record
        # The roll: a new pod at a time, each old one drained.
        # Settled, so the run started after it is taken by this code.
        upgrade(cluster, f"workflow.image.tag={current.rsplit(':', 1)[1]}", settle=WF)
        assert len(pods_of("workflow-host")) == 2
        after = start_order(http, apps, approval_timeout_s=900, **HUGE_ORDER)
        wait_run(http, apps, after, {"awaiting_approval"})

        _approve(cli, before, "alice")
        old_path = wait_run(http, apps, before)
        assert old_path["status"] == "completed" and old_path["total_usd"] > 60
        assert (old_path["approval"]["approver"], old_path["approval"]["votes"]) == ("alice", [])

        _approve(cli, after, "alice")
        assert wait_run(http, apps, after, {"awaiting_approval"})["approval"]["votes"]
        _approve(cli, after, "bob")
        new_path = wait_run(http, apps, after)
        assert new_path["status"] == "completed"
        assert [v["approver"] for v in new_path["approval"]["votes"]] == ["alice", "bob"]
        verdict = judge(probe, [before, after])
        assert verdict.problems == [] and verdict.ledger_entries == 2
    finally:
        upgrade(
            cluster,
            f"workflow.image.tag={current.rsplit(':', 1)[1]}",
            "workflow.policies.dualApprovalUsd=null",
            settle=WF,
        )
    ready = kubectl("get", "deploy", "workflow-host", "-o", "jsonpath={.status.readyReplicas}")
    assert ready == "2"
