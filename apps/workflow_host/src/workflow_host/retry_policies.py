"""The workflow's durable retry policies, one per kind of step. Each doubles its interval
from ``first`` up to ``cap``, for the number of attempts its setting gives.

- ``branch``: an enrichment branch; one that still fails degrades the run.
- ``store``: steps that write orders (all idempotent): 0.25, 0.5, 1, 2, then 4 s between
  attempts (~24 s with the default 10), so a store restart delays the order instead of
  failing it. The sidecar's own retries on ``orderstate`` are kept short
  (components/resiliency.yaml): durable retries belong here, where a retry re-reads the
  ETags a conflicting transaction needs.
- ``invoke``: steps that call agent-shell through service invocation: 1, 2, 4, 8, 10, 10 s,
  so a restarting agent (~15 s) delays the order instead of failing it.
- ``undo``: compensation steps; one that still fails is reported stuck (order.alert).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, NamedTuple

import dapr.ext.workflow as wf

from workflow_host.settings import WorkflowSettings


class Backoff(NamedTuple):
    first: timedelta
    cap: timedelta
    attempts: str  # the WorkflowSettings field with the attempt budget


Kind = Literal["branch", "store", "invoke", "undo"]
BACKOFF: dict[str, Backoff] = {
    "branch": Backoff(timedelta(milliseconds=200), timedelta(seconds=2), "branch_max_attempts"),
    "store": Backoff(timedelta(milliseconds=250), timedelta(seconds=4), "store_max_attempts"),
    "invoke": Backoff(timedelta(seconds=1), timedelta(seconds=10), "invoke_max_attempts"),
    "undo": Backoff(timedelta(milliseconds=500), timedelta(seconds=5), "undo_max_attempts"),
}


def retry_policy(kind: Kind, settings: WorkflowSettings) -> wf.RetryPolicy:
    b = BACKOFF[kind]
    return wf.RetryPolicy(
        first_retry_interval=b.first,
        max_number_of_attempts=getattr(settings, b.attempts),
        backoff_coefficient=2.0,
        max_retry_interval=b.cap,
    )
