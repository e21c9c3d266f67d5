"""The command tree of ``snacktopus`` (workflow_host.cli.app) and of its alias
``snacktopus-approve`` (workflow_host.cli.approve_app), through Typer's CliRunner: no stack,
no sidecar, no Dapr call. Every network call is faked or refused."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
import typer
from snacktopus_core import errors
from typer.testing import CliRunner
from workflow_host import approvals, auth, cli, store

APPROVAL_COMMANDS = ["pending", "show", "approve", "reject", "expire", "watch"]
CLIS = {"snacktopus": cli.app, "snacktopus-approve": cli.approve_app}
runner = CliRunner()


def invoke(prog: str, *args: str):
    return runner.invoke(CLIS[prog], list(args), prog_name=prog)


def commands(app: typer.Typer) -> list[str]:
    group = typer.main.get_group(app)
    return group.list_commands(typer.Context(group))


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No network unless a test answers it; the Dapr settings the CLI sets are restored."""
    from dapr.conf import settings as dapr_settings

    for name in ("DAPR_GRPC_PORT", "DAPR_HTTP_PORT", "DAPR_API_TOKEN"):
        monkeypatch.setattr(dapr_settings, name, getattr(dapr_settings, name))
    for name in ("SNACKTOPUS_APPROVER_TOKEN", "SNACKTOPUS_DAPR_HTTP_PORT"):
        monkeypatch.delenv(name, raising=False)

    def refuse(url, *a, **k):
        raise AssertionError(f"unexpected call to {url}")

    monkeypatch.setattr(httpx, "get", refuse)


@pytest.fixture
def sidecar(monkeypatch):
    """A sidecar that answers its health check, and approvals that know one order."""
    seen: list[str] = []

    def healthz(url, *a, **k):
        seen.append(url)
        return httpx.Response(204)

    run = SimpleNamespace(
        status="awaiting_approval",
        user_id="u-1",
        total_usd=123.0,
        approval=SimpleNamespace(requested_at="2025-01-01T00:00:00Z"),
        request=SimpleNamespace(request="snacks for the team"),
    )
    monkeypatch.setattr(httpx, "get", healthz)
    monkeypatch.setattr(store, "index", lambda: {"ord-1": "awaiting_approval"})
    monkeypatch.setattr(approvals, "load_run", {"ord-1": run}.get)
    monkeypatch.setattr(approvals, "workflow_status", lambda order_id: None)
    monkeypatch.setattr(approvals, "decide", lambda order_id, decision: None)
    monkeypatch.setattr(auth, "authenticate", lambda approver, token: None)
    return seen


def test_snacktopus_has_the_approval_commands_trace_and_purge():
    assert commands(cli.app) == [*APPROVAL_COMMANDS, "trace", "purge"]
    result = invoke("snacktopus", "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: snacktopus [OPTIONS] COMMAND" in result.output
    for name in [*APPROVAL_COMMANDS, "trace", "purge", "--dapr-grpc-port", "--dapr-http-port"]:
        assert name in result.output


def test_the_alias_keeps_exactly_its_commands_and_options():
    assert commands(cli.approve_app) == APPROVAL_COMMANDS
    result = invoke("snacktopus-approve", "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: snacktopus-approve [OPTIONS] COMMAND" in result.output
    for name in [*APPROVAL_COMMANDS, "--dapr-grpc-port", "--dapr-http-port"]:
        assert name in result.output
    assert "trace" not in commands(cli.approve_app)


@pytest.mark.parametrize("name", APPROVAL_COMMANDS)
def test_the_alias_resolves_to_the_same_commands(name):
    ours = typer.main.get_group(cli.app).commands[name]
    alias = typer.main.get_group(cli.approve_app).commands[name]
    assert [p.opts for p in ours.params] == [p.opts for p in alias.params]
    assert ours.help == alias.help
    helps = [runner.invoke(app, [name, "--help"], prog_name="x") for app in CLIS.values()]
    assert helps[0].exit_code == helps[1].exit_code == 0
    assert helps[0].output == helps[1].output
    # One command set, added to both command lines: the same function runs.
    assert ours.callback.__wrapped__ is alias.callback.__wrapped__ is getattr(cli, name)


@pytest.mark.parametrize("prog", CLIS)
@pytest.mark.parametrize(
    "args",
    [
        [],  # no command: the help, as a usage error
        ["nope"],
        ["approve"],  # no ORDER_ID
        ["approve", "ord-1", "--approver", "carol"],  # no --token, no SNACKTOPUS_APPROVER_TOKEN
        ["reject", "ord-1", "--token", "t"],  # no --reason
        ["watch", "ord-1", "--timeout", "soon"],
        ["show", "ord-1", "extra"],
        ["--dapr-http-port", "http", "pending"],
    ],
)
def test_usage_errors_exit_2_before_any_sidecar_call(prog, args):
    result = invoke(prog, *args)
    assert result.exit_code == errors.EXIT_USAGE == 2, result.output
    assert "Usage:" in result.output


def test_a_missing_token_says_so():
    result = invoke("snacktopus", "approve", "ord-1", "--approver", "carol")
    assert result.exit_code == 2 and "token" in result.output.lower()


def test_trace_is_not_a_command_of_the_alias():
    assert invoke("snacktopus-approve", "trace", "ord-1").exit_code == 2
    assert invoke("snacktopus", "trace").exit_code == 2  # no ORDER_ID


@pytest.mark.parametrize("prog", CLIS)
@pytest.mark.parametrize("name", APPROVAL_COMMANDS)
def test_a_commands_help_needs_no_sidecar(prog, name):
    result = invoke(prog, "--dapr-http-port", "1", name, "--help")
    assert result.exit_code == 0, result.output
    assert f"Usage: {prog} {name}" in result.output


@pytest.mark.parametrize("prog", CLIS)
def test_an_unreachable_sidecar_exits_5(prog, monkeypatch):
    urls: list[str] = []

    def down(url, *a, **k):
        urls.append(url)
        raise httpx.ConnectError("refused")

    monkeypatch.setattr(httpx, "get", down)
    result = invoke(prog, "--dapr-http-port", "1", "pending")
    assert result.exit_code == errors.exit_code(errors.ServiceUnavailable) == 5
    assert "unreachable" in result.stderr
    assert urls == ["http://127.0.0.1:1/v1.0/healthz/outbound"]
    monkeypatch.setenv("SNACKTOPUS_DAPR_HTTP_PORT", "7")
    assert invoke(prog, "show", "ord-1").exit_code == 5
    assert urls[-1] == "http://127.0.0.1:7/v1.0/healthz/outbound"


@pytest.mark.parametrize(
    ("args", "code", "stdout", "stderr"),
    [
        (["pending"], 0, "snacks for the team", ""),
        (["show", "ord-2"], 3, "", "no order ord-2"),
        (["approve", "ord-1", "--approver", "carol", "--token", "t"], 0, "approve sent", ""),
        (["reject", "ord-1", "--reason", "no", "--token", "t"], 0, "reject sent for ord-1", ""),
        (["expire", "ord-1", "--approver", "alice", "--token", "t"], 0, "by alice", ""),
    ],
)
def test_both_command_lines_answer_alike(sidecar, args, code, stdout, stderr):
    results = [invoke(prog, "--dapr-http-port", "9", *args) for prog in CLIS]
    for result in results:
        assert result.exit_code == code, result.output
        assert stdout in result.stdout and stderr in result.stderr
    assert results[0].stdout == results[1].stdout
    assert results[0].stderr == results[1].stderr
    assert sidecar == ["http://127.0.0.1:9/v1.0/healthz/outbound"] * 2


@pytest.mark.parametrize("prog", CLIS)
def test_a_decision_on_an_order_not_waiting_exits_4(sidecar, monkeypatch, prog):
    def moved_on(order_id, decision):
        raise errors.NotWaiting(f"order {order_id} is completed, not awaiting approval")

    monkeypatch.setattr(approvals, "decide", moved_on)
    result = invoke(prog, "approve", "ord-1", "--token", "t")
    assert result.exit_code == errors.exit_code(errors.NotWaiting) == 4
    assert "not awaiting approval" in result.stderr


def test_trace_talks_to_workflow_host_not_to_a_sidecar(monkeypatch):
    urls: list[str] = []

    def workflow_host(url, *a, **k):
        urls.append(url)
        return httpx.Response(404, request=httpx.Request("GET", url))

    monkeypatch.setattr(httpx, "get", workflow_host)
    result = invoke("snacktopus", "trace", "ord-404", "--workflow-url", "http://wf")
    assert result.exit_code == errors.exit_code(errors.UnknownOrder) == 3
    assert "no order ord-404" in result.output
    assert urls == ["http://wf/orders/ord-404"]  # no sidecar health check first


def test_trace_exits_5_when_workflow_host_is_down(monkeypatch):
    def down(url, *a, **k):
        raise httpx.ConnectError("refused")

    monkeypatch.setattr(httpx, "get", down)
    result = invoke("snacktopus", "--dapr-http-port", "1", "trace", "ord-1", "--workflow-url", "x")
    assert result.exit_code == errors.exit_code(errors.ServiceUnavailable) == 5
    assert "unreachable" in result.output


@pytest.mark.parametrize("prog", CLIS)
def test_the_approver_can_come_from_the_environment(sidecar, monkeypatch, prog):
    """The README exports SNACKTOPUS_APPROVER beside the token, then decides with neither
    option: the decision names that approver, not the login name."""
    monkeypatch.setenv("SNACKTOPUS_APPROVER", "carol")
    monkeypatch.setenv("SNACKTOPUS_APPROVER_TOKEN", "t")
    for args in (["approve", "ord-1"], ["reject", "ord-1", "--reason", "no"], ["expire", "ord-1"]):
        result = invoke(prog, "--dapr-http-port", "9", *args)
        assert result.exit_code == 0, result.output
        assert "by carol" in result.stdout
