"""One contract per boundary: the shapes both apps (and the tools around them) exchange are
defined once, in ``snacktopus_core.contracts``, and the tools reach the apps only through
that package or their HTTP APIs."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest
from snacktopus_core import contracts

ROOT = Path(__file__).resolve().parents[2]
APP_PACKAGES = {"agent_shell", "workflow_host"}


def test_the_terminal_statuses_are_the_run_statuses_a_run_ends_in():
    terminal = contracts.TERMINAL
    assert terminal == {"completed", "blocked", "rejected", "timed_out", "failed"}
    assert terminal < set(get_args(contracts.RunStatus))


def test_workflow_host_run_statuses_are_the_contract():
    # runs.py keeps its own definitions until it imports these; they must not drift apart.
    from workflow_host import runs

    assert get_args(runs.RunStatus) == get_args(contracts.RunStatus)
    assert runs.TERMINAL == contracts.TERMINAL


def test_both_apps_use_the_shared_models():
    from agent_shell import api as agent_api
    from workflow_host import api as workflow_api

    for name in ("Problem", "DecisionAccepted", "RecommendRequest", "RecommendResponse"):
        assert getattr(agent_api, name) is getattr(contracts, name), name
    for name in ("Problem", "DecisionAccepted"):
        assert getattr(workflow_api, name) is getattr(contracts, name), name


def test_a_recommend_response_is_what_the_workflow_activity_reads():
    from workflow_host.activities import RecommendResult

    answer = contracts.RecommendResponse(
        basket={"lines": [], "total_usd": 0}, explanation="x", degraded=True, flags=[], model=None
    )
    assert RecommendResult.model_validate(answer.model_dump(mode="json")).model_dump() == (
        answer.model_dump()
    )


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("folder", ["loadtest", "tools"])
def test_tools_and_load_tests_do_not_import_the_apps(folder):
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imported_packages(p) & APP_PACKAGES)
        for p in sorted((ROOT / folder).rglob("*.py"))
    }
    assert not {k: v for k, v in offenders.items() if v}, (
        "use snacktopus_core (contracts, errors, ...) or the apps' HTTP APIs"
    )


def test_the_locust_scenario_knows_the_terminal_statuses_of_the_contract():
    """loadtest/locustfile.py runs alone in the chart's Locust image (a ConfigMap, no
    library), so it writes the terminal statuses out; they must stay the contract's."""
    from snacktopus_core.contracts import TERMINAL

    tree = ast.parse((Path(__file__).parents[2] / "loadtest" / "locustfile.py").read_text())
    found = next(
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "TERMINAL"
    )
    assert set(ast.literal_eval(found.args[0])) == TERMINAL
