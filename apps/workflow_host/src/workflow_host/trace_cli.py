"""``snacktopus trace ORDER_ID``: an order's story, as a person would read it.

Joins the run record (state store, through workflow-host's sidecar) with the order's trace
in Zipkin (``/api/v2/trace/<trace id>``): each step with its duration, the spans of both
apps and both sidecars in time order, flags, the approval and the compensations.
"""

from __future__ import annotations

from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table
from snacktopus_core.errors import ServiceUnavailable, UnknownOrder, exit_code

from workflow_host.cli_settings import CliSettings

# The `trace` command, added to the `snacktopus` command line (workflow_host.cli.app). No
# callback: Typer merges a nameless sub-app's commands into its parent. Unlike the approval
# commands it calls workflow-host's HTTP API and Zipkin, never a sidecar directly.
app = typer.Typer()
console = Console(highlight=False, width=160)


@app.command("trace")
def trace_order(
    order_id: str,
    zipkin: Annotated[str | None, typer.Option(help="Zipkin base URL.")] = None,
    workflow_url: Annotated[str | None, typer.Option(help="workflow-host base URL.")] = None,
) -> None:
    """Print an order's timeline from its run record and its Zipkin trace."""
    stack = CliSettings()
    zipkin = zipkin or f"http://127.0.0.1:{stack.zipkin_port}"
    workflow_url = workflow_url or f"http://127.0.0.1:{stack.workflow_app_port}"
    try:
        r = httpx.get(f"{workflow_url}/orders/{order_id}", timeout=10)
    except httpx.HTTPError as exc:
        console.print(f"[red]workflow-host unreachable at {workflow_url}: {exc}[/]")
        raise typer.Exit(exit_code(ServiceUnavailable)) from exc
    if r.status_code == 404:
        console.print(f"[red]no order {order_id}[/]")
        raise typer.Exit(exit_code(UnknownOrder))
    r.raise_for_status()
    run = r.json().get("run")
    if not run:
        console.print(f"{order_id}: {r.json().get('workflow_status')} (no record yet)")
        return
    console.rule(f"[bold]{order_id}[/]  {run['status']}  total ${run['total_usd']:.2f}")
    console.print(f"user {run['user_id']}  request: {run['request']['request']}")
    if run.get("reason"):
        console.print(f"reason: {run['reason']}")
    steps = Table("step", "started", "ms", "status", "detail", title="steps (run record)")
    for s in run["steps"]:
        steps.add_row(
            s["step"],
            s["started_at"][11:23],
            f"{s['duration_ms']:.0f}",
            s["status"],
            s.get("detail") or "",
        )
    console.print(steps)
    flags = ", ".join(f"{f['kind']}({f['severity']})" for f in run["safety_flags"]) or "none"
    console.print(f"safety flags: {flags}")
    console.print(f"degraded branches: {', '.join(run['degraded_branches']) or 'none'}")
    a = run["approval"]
    if a["required"]:
        console.print(
            f"approval: {a['decision'] or 'waiting'} by {a['approver'] or '-'} "
            f"after {a['wait_s']} s"
        )
    console.print(
        f"side effects: {', '.join(run['side_effects']) or 'none'}; "
        f"compensations: {', '.join(run['compensations']) or 'none'}"
        + (
            f" (skipped: {', '.join(run['skipped_compensations'])})"
            if run["skipped_compensations"]
            else ""
        )
    )
    if not run.get("trace_id"):
        console.print("no trace id recorded (tracing off when the order started)")
        return
    try:
        spans = httpx.get(f"{zipkin}/api/v2/trace/{run['trace_id']}", timeout=10)
    except httpx.HTTPError as exc:
        console.print(f"[yellow]Zipkin unreachable at {zipkin}: {exc}[/]")
        return
    if spans.status_code != 200:
        console.print(f"[yellow]trace {run['trace_id']} not in Zipkin ({spans.status_code})[/]")
        return
    data = sorted(spans.json(), key=lambda s: s.get("timestamp", 0))
    t0 = data[0].get("timestamp", 0) if data else 0
    table = Table("+ms", "ms", "service", "span", "tags", title=f"trace {run['trace_id']}")
    for s in data:
        tags = {
            k.removeprefix("snacktopus."): v
            for k, v in s.get("tags", {}).items()
            if k.startswith("snacktopus.") and k != "snacktopus.order_id"
        }
        table.add_row(
            f"{(s.get('timestamp', 0) - t0) / 1000:.0f}",
            f"{s.get('duration', 0) / 1000:.1f}",
            s.get("localEndpoint", {}).get("serviceName", "?"),
            s.get("name", ""),
            " ".join(f"{k}={v}" for k, v in tags.items()),
        )
    console.print(table)
    console.print(f"open: {zipkin}/zipkin/traces/{run['trace_id']}")
