"""Compensation: the undo step of each side effect, run in reverse order.

Dapr workflows have no built-in saga; this is the saga, as a generator the workflow
delegates to (``yield from``), so it stays deterministic: it only schedules activities.
Each undo step is idempotent and retried with a bounded policy; an undo that still fails
is recorded and the remaining ones still run; the run then ends ``failed`` with the stuck
side effects named (never an endless loop).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import dapr.ext.workflow as wf

from workflow_host import activities as act
from workflow_host.retry_policies import retry_policy
from workflow_host.settings import WorkflowSettings

# side effect -> its undo activity
UNDO: dict[str, Any] = {
    "price_quote": act.release_quote,
    "reserve_inventory": act.release_inventory,
    "hold_delivery_slot": act.release_delivery_slot,
}
UNDO_NAME = {effect: undo.__name__ for effect, undo in UNDO.items()}


@dataclass
class CompensationResult:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    error: str | None = None


def compensate(
    ctx: wf.DaprWorkflowContext,
    *,
    order_id: str,
    side_effects: list[str],
    reason: str,
    traceparent: str | None,
    settings: WorkflowSettings,
    disabled_undo: set[str],
    failing_undo: set[str],
) -> Generator[Any, Any, CompensationResult]:
    result = CompensationResult()
    for effect in reversed(side_effects):
        undo = UNDO_NAME.get(effect)
        if undo is None:
            continue
        if undo in disabled_undo:
            result.skipped.append(undo)
            continue
        try:
            yield ctx.call_activity(
                UNDO[effect],
                input=act.UndoInput(
                    order_id=order_id,
                    traceparent=traceparent,
                    reason=reason,
                    fail=undo in failing_undo,
                ),
                retry_policy=retry_policy("undo", settings),
            )
        except wf.TaskFailedError as exc:
            # Bounded retries are spent: record it and still undo the rest, so one stuck
            # side effect never keeps the others held.
            result.stuck.append(undo)
            result.error = result.error or str(exc)[:900]
            continue
        result.ran.append(undo)
    return result
