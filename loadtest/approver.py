"""The approver loop of ``make load``: a separate process that answers the orders waiting
for a human, through the Dapr workflow SDK client (``raise_workflow_event``), as an
integration of a real approval system would.

It reads what each order wants from its id (``load-approve-…``, ``load-reject-…``;
``load-timeout-…`` orders are left to time out), answers each once, and stops when
``--until`` (a file) exists. Counts go to stdout at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import httpx
from dapr.conf import settings as dapr_settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script
from tools.stack_settings import StackSettings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--until", type=Path, required=True)
    parser.add_argument("--lag", type=float, default=0.5, help="seconds before answering")
    args = parser.parse_args()
    s = StackSettings()
    dapr_settings.DAPR_GRPC_PORT = s.workflow_dapr_grpc_port
    dapr_settings.DAPR_API_TOKEN = dapr_settings.DAPR_API_TOKEN or s.local_dapr_api_token()
    from dapr.ext.workflow import DaprWorkflowClient

    client = DaprWorkflowClient()
    http = httpx.Client(timeout=30)
    answered: set[str] = set()
    counts = {"approve": 0, "reject": 0}
    url = f"http://127.0.0.1:{s.workflow_app_port}/orders"
    while not args.until.exists():
        try:
            waiting = http.get(url, params={"status": "awaiting_approval", "limit": 1000}).json()
        except httpx.HTTPError:
            time.sleep(1)
            continue
        for row in waiting:
            oid = row["order_id"]
            kind = oid.split("-")[1] if oid.startswith("load-") else None
            if oid in answered or kind not in counts:
                continue
            time.sleep(args.lag)
            client.raise_workflow_event(
                oid, "humanApproval", data={"decision": kind, "approver": "load-approver"}
            )
            answered.add(oid)
            counts[kind] += 1
        time.sleep(0.5)
    print(f"approver: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
