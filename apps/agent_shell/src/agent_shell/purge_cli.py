"""``agent-shell-purge``: one retention sweep of asks now, as agent-shell runs every
``RETENTION_SWEEP_INTERVAL_S`` (retention.py), through agent-shell's sidecar.

    agent-shell-purge [--older-than-days D | --ended-before ISO-8601] [--limit N]
                      [--dapr-grpc-port P --dapr-http-port P]

The sidecar: the options, else the local stack's ``AGENT_DAPR_GRPC_PORT`` and
``AGENT_DAPR_HTTP_PORT`` (environment, ``.env``), else ``DAPR_GRPC_PORT``/``DAPR_HTTP_PORT``
as in agent-shell's own environment (in its pod: ``kubectl exec deploy/agent-shell -c app
-- agent-shell-purge``). The token: ``DAPR_API_TOKEN``, else the local stack's
``.run/tokens.json`` (``RUN_DIR``). Exit codes as ``snacktopus purge``:
0 done, 2 bad usage, 5 the sidecar unreachable or some asks not forgotten (named on
stderr; the next sweep retries them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydantic_settings import BaseSettings
from snacktopus_core.errors import ServiceUnavailable, exit_code
from snacktopus_core.retention import cutoff_for
from snacktopus_core.settings import ENV_FILE


class LocalStack(BaseSettings):
    """agent-shell's sidecar ports on the local stack, when it runs (``.env`` moves them)."""

    model_config = ENV_FILE

    agent_dapr_grpc_port: int | None = None
    agent_dapr_http_port: int | None = None


def _instant(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (e.g. +00:00)")
    return at


def _days(text: str) -> float:
    days = float(text)
    if days < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return days


def _limit(text: str) -> int:
    n = int(text)
    if not 1 <= n <= 100_000:
        raise argparse.ArgumentTypeError("must be 1..100000")
    return n


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="agent-shell-purge", description=__doc__.split("\n\n")[0])
    when = p.add_mutually_exclusive_group()
    when.add_argument("--older-than-days", type=_days, help="default: RUN_RETENTION_DAYS")
    when.add_argument("--ended-before", type=_instant, help="ISO 8601 with an offset")
    p.add_argument("--limit", type=_limit, default=500, help="at most this many asks")
    p.add_argument("--dapr-grpc-port", type=int)
    p.add_argument("--dapr-http-port", type=int)
    return p


def _token() -> str | None:
    try:
        run_dir = Path(os.environ.get("RUN_DIR", ".run"))
        return json.loads((run_dir / "tokens.json").read_text()).get("dapr_api_token")
    except (OSError, ValueError):
        return None


def _connect(args: argparse.Namespace) -> bool:
    """Points the Dapr SDK at the sidecar (its clients read these when made); says
    whether the sidecar answers."""
    from dapr.conf import settings as dapr_settings

    local = LocalStack()
    if grpc_port := args.dapr_grpc_port or local.agent_dapr_grpc_port:
        dapr_settings.DAPR_GRPC_PORT = grpc_port
        os.environ["DAPR_GRPC_PORT"] = str(grpc_port)
    if http_port := args.dapr_http_port or local.agent_dapr_http_port:
        dapr_settings.DAPR_HTTP_PORT = http_port
        os.environ["DAPR_HTTP_PORT"] = str(http_port)
    if not dapr_settings.DAPR_API_TOKEN and (token := _token()):
        dapr_settings.DAPR_API_TOKEN = token
    url = f"http://127.0.0.1:{dapr_settings.DAPR_HTTP_PORT}/v1.0/healthz/outbound"
    try:
        return httpx.get(url, timeout=3).is_success
    except httpx.HTTPError:
        return False


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not _connect(args):
        print("agent-shell's sidecar is unreachable: is the stack up?", file=sys.stderr)
        return exit_code(ServiceUnavailable)
    from agent_shell import retention
    from agent_shell.settings import get_settings

    settings = get_settings()
    days = settings.run_retention_days if args.older_than_days is None else args.older_than_days
    cutoff = args.ended_before or cutoff_for(days, datetime.now(UTC))
    result = retention.sweep(cutoff, args.limit, settings)
    print(
        f"forgot {len(result.forgotten)} of {result.examined} indexed asks that ended "
        f"before {result.cutoff.isoformat()}; {len(result.unfinished)} still finishing"
    )
    for entry_id, why in result.failed.items():
        print(f"{entry_id}: {why}", file=sys.stderr)
    return exit_code(ServiceUnavailable) if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
