"""One table maps each domain error to its HTTP status and CLI exit code
(``snacktopus_core.errors.ERRORS``): every error has a row, both apps answer from it with
the body ``HTTPException`` gives, and the runbook and README print the same table."""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from snacktopus_core import errors
from snacktopus_core.web import new_app

ROOT = Path(__file__).resolve().parents[2]


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


CONCRETE = [c for c in _subclasses(errors.SnacktopusError) if not c.__subclasses__()]


def test_every_domain_error_has_a_row():
    assert CONCRETE, "no domain errors found"
    assert set(CONCRETE) == set(errors.ERRORS), "a row per error, and only for errors raised"
    for cls, row in errors.ERRORS.items():
        assert 400 <= row.status < 600 and row.title, cls
        assert errors.spec(cls) is row and errors.spec(cls("x")) is row


def test_every_unavailable_error_says_when_to_retry_and_exits_5():
    for cls, row in errors.ERRORS.items():
        if issubclass(cls, errors.Unavailable):
            assert (row.status, row.exit_code, dict(row.headers)) == (
                503,
                5,
                {"Retry-After": "1"},
            ), cls


def test_exit_codes_do_not_clash_with_click_or_success():
    codes = {row.exit_code for row in errors.ERRORS.values()} - {None}
    assert not codes & {errors.EXIT_OK, errors.EXIT_FAILURE, errors.EXIT_USAGE}
    assert errors.exit_code(errors.UnknownProfile) == errors.EXIT_FAILURE  # no CLI meets it


def test_an_app_answers_a_domain_error_as_the_table_and_httpexception_say():
    app = new_app()

    @app.get("/domain/{name}")
    def domain(name: str) -> None:
        raise getattr(errors, name)(f"{name} happened")

    @app.get("/http/{name}")
    def http(name: str) -> None:
        row = errors.ERRORS[getattr(errors, name)]
        raise HTTPException(row.status, f"{name} happened", headers=dict(row.headers) or None)

    client = TestClient(app)
    for cls, row in errors.ERRORS.items():
        got = client.get(f"/domain/{cls.__name__}")
        want = client.get(f"/http/{cls.__name__}")
        assert got.status_code == want.status_code == row.status, cls
        assert got.json() == want.json() == {"detail": f"{cls.__name__} happened"}, cls
        for header, value in row.headers.items():
            assert got.headers[header] == value, (cls, header)


@pytest.fixture(scope="module", params=["agent_shell", "workflow_host"])
def app_client(request) -> Iterator[tuple[str, TestClient]]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    settings = importlib.import_module(f"{request.param}.settings")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRACING_ENABLED", "false")
        mp.setenv("ALLOW_FAULT_INJECTION", "false")
        settings.get_settings.cache_clear()
        main = importlib.import_module(f"{request.param}.main")
        yield request.param, TestClient(main.create_app())
    settings.get_settings.cache_clear()
    root.handlers[:], level = saved
    root.setLevel(level)


def test_the_real_apps_answer_from_the_table_before_touching_a_sidecar(app_client):
    name, client = app_client
    body = {"decision": "approve", "approver": "carol"}
    if name == "agent_shell":
        r = client.post("/human/decision", json={**body, "order_id": "ord-1"})
    else:
        r = client.post("/orders/ord-1/decision", json=body)
        started = client.post(
            "/orders",
            json={
                "user_id": "u1",
                "request": "snacks",
                "budget_usd": 10,
                "headcount": 2,
                "faults": {"fail_branches": ["vendor_eta"]},
            },
        )
        assert started.status_code == 400, started.text
        assert started.json() == {
            "detail": "fault injection is disabled (ALLOW_FAULT_INJECTION=false)"
        }
    assert r.status_code == 401, r.text
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert r.json() == {"detail": "approvers authenticate: send 'Authorization: Bearer <token>'"}


def _row(cls: type, row: errors.ErrorSpec) -> str:
    exit_code = "-" if row.exit_code is None else str(row.exit_code)
    headers = ", ".join(f"`{k}: {v}`" for k, v in row.headers.items()) or "-"
    return f"| `{cls.__name__}` | {row.title} | {row.status} | {headers} | {exit_code} | "


def test_the_runbook_prints_the_table():
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("## Errors: HTTP statuses and exit codes", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) == len(errors.ERRORS)
    for line, (cls, row) in zip(rows, errors.ERRORS.items(), strict=True):
        assert line.startswith(_row(cls, row)), (line, _row(cls, row))  # then: who raises it


def test_the_readme_lists_every_exit_code():
    text = (ROOT / "README.md").read_text()
    paragraph = text.split("\nExit codes:", 1)[1].split("\n\n", 1)[0]
    listed = {int(n) for n in re.findall(r"\b(\d)\s", paragraph)}
    codes = {row.exit_code for row in errors.ERRORS.values()} - {None}
    assert codes | {errors.EXIT_OK, errors.EXIT_USAGE} <= listed


@pytest.fixture
def approve_cli(monkeypatch):
    """``snacktopus-approve`` with its sidecar health check answered and no Dapr call made."""
    import httpx
    from dapr.conf import settings as dapr_settings
    from typer.testing import CliRunner
    from workflow_host import approvals, auth, cli

    for name in ("DAPR_GRPC_PORT", "DAPR_HTTP_PORT", "DAPR_API_TOKEN"):  # the CLI sets them
        monkeypatch.setattr(dapr_settings, name, getattr(dapr_settings, name))
    monkeypatch.setattr(httpx, "get", lambda *a, **k: httpx.Response(204))
    monkeypatch.setattr(approvals, "load_run", lambda order_id: None)
    monkeypatch.setattr(approvals, "workflow_status", lambda order_id: None)
    monkeypatch.setattr(auth, "authenticate", lambda approver, token: None)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli.app, ["--dapr-grpc-port", "1", "--dapr-http-port", "2", *args])

    return run, approvals, auth


@pytest.mark.parametrize(
    ("where", "error"),
    [
        ("auth", errors.Forbidden("this token does not belong to approver 'carol'")),
        ("auth", errors.SecretStoreUnavailable("secret store unavailable: down")),
        ("decide", errors.UnknownOrder("no order ord-1")),
        ("decide", errors.NotWaiting("order ord-1 is completed, not awaiting approval")),
        ("decide", errors.StateUnavailable("workflow state of ord-1 unreadable")),
    ],
)
def test_the_cli_exits_with_the_tables_code(approve_cli, monkeypatch, where, error):
    run, approvals, auth = approve_cli

    def fail(*_):
        raise error

    if where == "auth":
        monkeypatch.setattr(auth, "authenticate", fail)
    else:
        monkeypatch.setattr(approvals, "decide", fail)
    result = run("approve", "ord-1", "--approver", "carol", "--token", "t")
    assert result.exit_code == errors.exit_code(error), result.output
    assert str(error) in result.stderr


def test_the_cli_reports_an_unknown_order_with_its_code(approve_cli):
    run, *_ = approve_cli
    result = run("show", "ord-404")
    assert result.exit_code == errors.exit_code(errors.UnknownOrder) == 3
    assert "no order ord-404" in result.stderr
