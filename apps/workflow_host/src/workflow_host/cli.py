"""``snacktopus``: Snacktopus's command line, one command with sub-commands.

    snacktopus pending                  orders waiting for a human
    snacktopus show ORDER_ID            one run, step by step
    snacktopus approve ORDER_ID [--approver NAME] [--comment TEXT] [--token T]
    snacktopus reject ORDER_ID --reason TEXT [--approver NAME] [--token T]
    snacktopus expire ORDER_ID [--token T]  force the timeout path (compensates)
    snacktopus watch ORDER_ID           follow a run until it ends
    snacktopus trace ORDER_ID           an order's story: run record and Zipkin trace
    snacktopus purge [--older-than-days D | --ended-before T]  forget finished orders

``snacktopus-approve`` is an alias of the approval commands (all of the above but
``trace``), with the same options, output and exit codes: ``snacktopus-approve pending``.
Both command lines add the same command set (:data:`approval_commands`, and ``trace`` from
:mod:`workflow_host.trace_cli`) with Typer's ``add_typer``.

The approval commands talk to workflow-host's sidecar (``--dapr-grpc-port``/
``--dapr-http-port`` before the command, defaulting to the local stack's ports from
``.env``), with ``DAPR_API_TOKEN`` (the local stack's own token when unset); each checks the
sidecar answers before anything else, so ``--help`` and usage errors need no stack.
Deciding needs the approver's token (``--token`` or ``SNACKTOPUS_APPROVER_TOKEN``), checked
against the secret store like the HTTP API does.
Exit codes (``snacktopus_core.errors.ERRORS``, the table the HTTP API answers from too):
0 done; 3 unknown order; 4 the order is not waiting or already decided; 5 the sidecar, the
workflow state or the secret store is unavailable; 6 not authenticated as that approver;
2 bad usage; 1 ``watch`` gave up.
"""

from __future__ import annotations

import getpass
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table
from snacktopus_core.contracts import TERMINAL
from snacktopus_core.errors import (
    EXIT_FAILURE,
    NotWaiting,
    ServiceUnavailable,
    SnacktopusError,
    UnknownOrder,
    exit_code,
)
from snacktopus_core.retry import poll_until

from workflow_host import trace_cli
from workflow_host.cli_settings import CliSettings

# Piped output (scripts, tests) gets full-width rows instead of rich's 80-column default.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False)


@dataclass(frozen=True)
class Sidecar:
    """workflow-host's sidecar ports given on the command line (None: the stack's own)."""

    grpc_port: int | None = None
    http_port: int | None = None


def sidecar_options(
    ctx: typer.Context,
    dapr_grpc_port: Annotated[
        int | None,
        typer.Option(envvar="SNACKTOPUS_DAPR_GRPC_PORT", help="workflow-host's daprd gRPC port."),
    ] = None,
    dapr_http_port: Annotated[
        int | None,
        typer.Option(envvar="SNACKTOPUS_DAPR_HTTP_PORT", help="workflow-host's daprd HTTP port."),
    ] = None,
) -> None:
    """The options before the sub-command, on both command lines. Only recorded here, so
    ``--help``, usage errors and ``trace`` need no sidecar: the approval commands connect
    when they run (:func:`_connect`)."""
    ctx.obj = Sidecar(dapr_grpc_port, dapr_http_port)


def _connect(ctx: typer.Context) -> None:
    """Point the Dapr SDK at workflow-host's sidecar and check that it answers, or exit 5.
    Every approval command calls this first: the SDK's clients read these settings when
    they are made."""
    from dapr.conf import settings as dapr_settings

    ports = ctx.find_object(Sidecar) or Sidecar()
    stack = CliSettings()
    grpc = ports.grpc_port or stack.workflow_dapr_grpc_port
    http = ports.http_port or stack.workflow_dapr_http_port
    dapr_settings.DAPR_GRPC_PORT = grpc
    dapr_settings.DAPR_HTTP_PORT = http
    dapr_settings.DAPR_API_TOKEN = dapr_settings.DAPR_API_TOKEN or stack.local_dapr_api_token()
    url = f"http://127.0.0.1:{http}/v1.0/healthz/outbound"
    try:
        ok = httpx.get(url, timeout=3).is_success
    except httpx.HTTPError:
        ok = False
    if not ok:
        err.print(
            f"[red]workflow-host's sidecar is unreachable[/] at {url} (gRPC {grpc}): "
            "is the stack up (`make up`)?"
        )
        raise typer.Exit(exit_code(ServiceUnavailable))


# The approval commands, added to both command lines below (no callback of its own: Typer
# merges a nameless sub-app's commands into its parent).
approval_commands = typer.Typer()


@contextmanager
def _reported() -> Iterator[None]:
    """A domain error ends the command: its message on stderr, its exit code from the table
    (in yellow when the order has moved on, not waiting any more: nothing is broken)."""
    try:
        yield
    except SnacktopusError as exc:
        colour = "yellow" if isinstance(exc, NotWaiting) else "red"
        err.print(f"[{colour}]{exc}[/]")
        raise typer.Exit(exit_code(exc)) from exc


def _run(order_id: str):
    from workflow_host import approvals

    with _reported():
        run = approvals.load_run(order_id)
        if run is None and approvals.workflow_status(order_id) is None:
            raise UnknownOrder(f"no order {order_id}")
    return run


Token = Annotated[
    str,
    typer.Option(
        envvar="SNACKTOPUS_APPROVER_TOKEN",
        help="Your approver token (secret approver-<name>).",
        show_default=False,
    ),
]


LOGIN = getpass.getuser()
Approver = Annotated[
    str,
    typer.Option(
        envvar="SNACKTOPUS_APPROVER",
        help="Who decides: the approver the token belongs to (default: your login name).",
    ),
]


def _decide(order_id: str, decision: str, approver: str, comment: str | None, token: str) -> None:
    from workflow_host import approvals, auth
    from workflow_host.runs import ApprovalDecision

    with _reported():
        auth.authenticate(approver, token)
        approvals.decide(
            order_id, ApprovalDecision(decision=decision, approver=approver, comment=comment)
        )
    out.print(f"{decision} sent for {order_id} by {approver}")


@approval_commands.command()
def pending(ctx: typer.Context) -> None:
    """Orders waiting for a human decision, newest first."""
    _connect(ctx)
    from workflow_host import approvals, store

    table = Table()
    table.add_column("order", no_wrap=True)
    for name in ("user", "total", "waiting since", "request"):
        table.add_column(name)
    ids = [k for k, v in reversed(store.index().items()) if v == "awaiting_approval"]
    for order_id in ids:
        run = approvals.load_run(order_id)
        if run and run.status == "awaiting_approval":
            table.add_row(
                order_id,
                run.user_id,
                f"${run.total_usd:.2f}",
                str(run.approval.requested_at),
                run.request.request[:50],
            )
    out.print(table if table.row_count else "nothing is waiting for approval")


@approval_commands.command()
def show(ctx: typer.Context, order_id: str) -> None:
    """One run: status, basket, steps, approval, compensations."""
    _connect(ctx)
    from workflow_host import approvals

    run = _run(order_id)
    if run is None:
        out.print(f"{order_id}: {approvals.workflow_status(order_id)} (no record yet)")
        return
    out.print(
        f"[bold]{order_id}[/] {run.status} ({run.phase})  user {run.user_id}  "
        f"total ${run.total_usd:.2f}  trace {run.trace_id or '-'}"
    )
    if run.reason:
        out.print(f"reason: {run.reason}")
    steps = Table("step", "ms", "status", "detail")
    for s in run.steps:
        steps.add_row(s.step, f"{s.duration_ms:.0f}", s.status, s.detail or "")
    out.print(steps)
    if run.basket:
        for ln in run.basket.lines:
            out.print(f"  {ln.quantity} x {ln.name}  ${ln.line_total_usd:.2f}")
    a = run.approval
    if a.required:
        out.print(
            f"approval: {a.decision or 'waiting'} by {a.approver or '-'} "
            f"(waited {a.wait_s if a.wait_s is not None else '-'} s)"
        )
    if run.degraded_branches:
        out.print(f"degraded: {', '.join(run.degraded_branches)}")
    if run.compensations or run.skipped_compensations:
        out.print(
            f"compensations: {', '.join(run.compensations) or '-'}"
            f"  skipped: {', '.join(run.skipped_compensations) or '-'}"
        )


@approval_commands.command()
def approve(
    ctx: typer.Context,
    order_id: str,
    token: Token,
    approver: Approver = LOGIN,
    comment: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Approve an order waiting for a human."""
    _connect(ctx)
    _decide(order_id, "approve", approver, comment, token)


@approval_commands.command()
def reject(
    ctx: typer.Context,
    order_id: str,
    token: Token,
    reason: Annotated[str, typer.Option(help="Why (recorded and published).")],
    approver: Approver = LOGIN,
) -> None:
    """Reject an order: it compensates and ends rejected."""
    _connect(ctx)
    _decide(order_id, "reject", approver, reason, token)


@approval_commands.command()
def expire(
    ctx: typer.Context,
    order_id: str,
    token: Token,
    approver: Approver = LOGIN,
) -> None:
    """Force the timeout path now (drills): the order compensates and ends timed_out."""
    _connect(ctx)
    _decide(order_id, "expire", approver, "expired from the CLI", token)


@approval_commands.command()
def watch(
    ctx: typer.Context,
    order_id: str,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 600,
) -> None:
    """Follow a run, printing each phase, until it ends (exit 0) or the timeout (exit 1)."""
    _connect(ctx)
    seen: tuple[str, str] | None = None

    def ended() -> bool:
        """Prints each new status and phase; True once the run has ended."""
        nonlocal seen
        run = _run(order_id)
        if run is None or (run.status, run.phase) == seen:
            return False
        seen = (run.status, run.phase)
        last = run.steps[-1].step if run.steps else "-"
        out.print(f"{time.strftime('%H:%M:%S')} {run.status:<18} {run.phase:<18} last step: {last}")
        return run.status in TERMINAL

    if poll_until(ended, timeout, every=0.5):
        return
    err.print(f"{order_id} did not end within {timeout:g} s")
    raise typer.Exit(EXIT_FAILURE)


# `snacktopus`: the approval commands and `trace`, each a command of its own.
app = typer.Typer(
    help="Snacktopus's command line: approvals (through workflow-host's sidecar) and an "
    "order's trace.",
    callback=sidecar_options,
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(approval_commands)
app.add_typer(trace_cli.app)
# Operators' commands: `snacktopus` only, not the approvers' alias.
admin_commands = typer.Typer()
app.add_typer(admin_commands)


@admin_commands.command()
def purge(
    ctx: typer.Context,
    older_than_days: Annotated[
        float | None,
        typer.Option(min=0, help="Forget orders that ended this long ago (RUN_RETENTION_DAYS)."),
    ] = None,
    ended_before: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"],
            help="Or: forget orders that ended before this instant (ISO 8601 with offset).",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many orders.")] = 500,
) -> None:
    """One retention sweep now: purge the workflow instances and keys of finished orders
    (their ledger entries stay). Exit 5 when some could not be forgotten (retried next time)."""
    from workflow_host import retention
    from workflow_host.settings import get_settings

    if older_than_days is not None and ended_before is not None:
        raise typer.BadParameter("give --older-than-days or --ended-before, not both")
    _connect(ctx)
    days = get_settings().run_retention_days if older_than_days is None else older_than_days
    cutoff = ended_before or datetime.now(UTC) - timedelta(days=days)
    with _reported():
        result = retention.sweep(cutoff, limit)
    out.print(
        f"forgot {len(result.forgotten)} of {result.examined} indexed orders that ended "
        f"before {result.cutoff.isoformat()}; {len(result.unfinished)} still finishing"
    )
    for order_id, why in result.failed.items():
        err.print(f"{order_id}: {why}")
    if result.failed:
        raise typer.Exit(exit_code(ServiceUnavailable))


# `snacktopus-approve`: the alias, the approval commands alone, as they always were.
approve_app = typer.Typer(
    help="``snacktopus-approve``: the approver's command line, through the Dapr workflow "
    "client (the approval commands of ``snacktopus``).",
    callback=sidecar_options,
    no_args_is_help=True,
    add_completion=False,
)
approve_app.add_typer(approval_commands)


if __name__ == "__main__":
    app()
