"""``snacktopus-approve``: the approver's command line, through the Dapr workflow client.

    snacktopus-approve pending                  orders waiting for a human
    snacktopus-approve show ORDER_ID            one run, step by step
    snacktopus-approve approve ORDER_ID [--approver NAME] [--comment TEXT] [--token T]
    snacktopus-approve reject ORDER_ID --reason TEXT [--approver NAME] [--token T]
    snacktopus-approve expire ORDER_ID [--token T]  force the timeout path (compensates)
    snacktopus-approve watch ORDER_ID           follow a run until it ends

It talks to workflow-host's sidecar (``--dapr-grpc-port``/``--dapr-http-port``, defaulting
to the local stack's ports from ``.env``), with ``DAPR_API_TOKEN`` (the local stack's own
token when unset). Deciding needs the approver's token (``--token`` or
``SNACKTOPUS_APPROVER_TOKEN``), checked against the secret store like the HTTP API does.
Exit codes: 0 done; 3 unknown order; 4 the order is not waiting or already decided; 5 the
sidecar is unreachable; 6 not authenticated as that approver; 2 bad usage.
"""

from __future__ import annotations

import getpass
import sys
import time
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table
from snacktopus_core.settings import StackSettings

EXIT_UNKNOWN, EXIT_NOT_WAITING, EXIT_UNREACHABLE, EXIT_DENIED = 3, 4, 5, 6

app = typer.Typer(help=__doc__.split("\n\n")[0], no_args_is_help=True, add_completion=False)
# Piped output (scripts, tests) gets full-width rows instead of rich's 80-column default.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False)


@app.callback()
def main(
    dapr_grpc_port: Annotated[
        int | None,
        typer.Option(envvar="SNACKTOPUS_DAPR_GRPC_PORT", help="workflow-host's daprd gRPC port."),
    ] = None,
    dapr_http_port: Annotated[
        int | None,
        typer.Option(envvar="SNACKTOPUS_DAPR_HTTP_PORT", help="workflow-host's daprd HTTP port."),
    ] = None,
) -> None:
    from dapr.conf import settings as dapr_settings

    stack = StackSettings()
    grpc = dapr_grpc_port or stack.workflow_dapr_grpc_port
    http = dapr_http_port or stack.workflow_dapr_http_port
    # The SDK's clients read these at construction; set them before any client exists.
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
        raise typer.Exit(EXIT_UNREACHABLE)


def _run(order_id: str):
    from workflow_host import approvals

    run = approvals.load_run(order_id)
    if run is None and approvals.workflow_status(order_id) is None:
        err.print(f"[red]no order {order_id}[/]")
        raise typer.Exit(EXIT_UNKNOWN)
    return run


Token = Annotated[
    str,
    typer.Option(
        envvar="SNACKTOPUS_APPROVER_TOKEN",
        help="Your approver token (secret approver-<name>).",
        show_default=False,
    ),
]


def _decide(order_id: str, decision: str, approver: str, comment: str | None, token: str) -> None:
    from workflow_host import approvals, auth
    from workflow_host.runs import ApprovalDecision

    try:
        auth.authenticate(approver, token)
    except auth.Forbidden as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(EXIT_DENIED) from exc
    except auth.SecretStoreUnavailable as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(EXIT_UNREACHABLE) from exc
    try:
        approvals.decide(
            order_id, ApprovalDecision(decision=decision, approver=approver, comment=comment)
        )
    except approvals.UnknownOrder as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(EXIT_UNKNOWN) from exc
    except approvals.NotWaiting as exc:
        err.print(f"[yellow]{exc}[/]")
        raise typer.Exit(EXIT_NOT_WAITING) from exc
    out.print(f"{decision} sent for {order_id} by {approver}")


@app.command()
def pending() -> None:
    """Orders waiting for a human decision, newest first."""
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


@app.command()
def show(order_id: str) -> None:
    """One run: status, basket, steps, approval, compensations."""
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


@app.command()
def approve(
    order_id: str,
    token: Token,
    approver: Annotated[str, typer.Option(help="Who approves.")] = getpass.getuser(),
    comment: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Approve an order waiting for a human."""
    _decide(order_id, "approve", approver, comment, token)


@app.command()
def reject(
    order_id: str,
    token: Token,
    reason: Annotated[str, typer.Option(help="Why (recorded and published).")],
    approver: Annotated[str, typer.Option()] = getpass.getuser(),
) -> None:
    """Reject an order: it compensates and ends rejected."""
    _decide(order_id, "reject", approver, reason, token)


@app.command()
def expire(
    order_id: str,
    token: Token,
    approver: Annotated[str, typer.Option()] = getpass.getuser(),
) -> None:
    """Force the timeout path now (drills): the order compensates and ends timed_out."""
    _decide(order_id, "expire", approver, "expired from the CLI", token)


@app.command()
def watch(
    order_id: str,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 600,
) -> None:
    """Follow a run, printing each phase, until it ends (exit 0) or the timeout (exit 1)."""
    from workflow_host.runs import TERMINAL

    deadline = time.monotonic() + timeout
    seen: tuple[str, str] | None = None
    while time.monotonic() < deadline:
        run = _run(order_id)
        if run is not None and (run.status, run.phase) != seen:
            seen = (run.status, run.phase)
            last = run.steps[-1].step if run.steps else "-"
            out.print(
                f"{time.strftime('%H:%M:%S')} {run.status:<18} {run.phase:<18} last step: {last}"
            )
            if run.status in TERMINAL:
                return
        time.sleep(0.5)
    err.print(f"{order_id} did not end within {timeout:g} s")
    raise typer.Exit(1)


if __name__ == "__main__":
    app()
