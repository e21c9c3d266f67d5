"""The Dapr workflow runtime of workflow-host and what is registered on it."""

from __future__ import annotations

import dapr.ext.workflow as wf

from workflow_host import activities as act
from workflow_host.settings import get_settings
from workflow_host.workflow import WORKFLOW_NAME, snacktopus

ACTIVITIES = [
    act.load_profile,
    act.catalog_lookup,
    act.nutrition_and_allergens,
    act.price_quote,
    act.vendor_eta,
    act.recommend,
    act.safety_gate,
    act.reserve_inventory,
    act.hold_delivery_slot,
    act.place_order,
    act.release_inventory,
    act.release_delivery_slot,
    act.release_quote,
    act.save_run,
    act.publish_event,
    act.finish_run,
]


def ping(_: wf.WorkflowActivityContext, message: str) -> str:
    return f"pong: {message}"


def smoke(ctx: wf.DaprWorkflowContext, message: str):
    """One activity: proves the worker, placement, scheduler and actor store are wired."""
    reply = yield ctx.call_activity(ping, input=message)
    return reply


def build_runtime() -> wf.WorkflowRuntime:
    # Our activities are sync and I/O-bound (sidecar calls; `recommend` waits seconds on the
    # model). The SDK's default pool is cpu_count + 4 threads: under load a handful of
    # waiting `recommend`s hold all six and every other activity (and the start of new
    # runs) queues behind them for tens of seconds (`make load`, test plan Appendix C).
    runtime = wf.WorkflowRuntime(maximum_thread_pool_workers=get_settings().workflow_worker_threads)
    runtime.register_workflow(snacktopus, name=WORKFLOW_NAME)
    runtime.register_workflow(smoke, name="smoke")
    runtime.register_activity(ping, name="ping")
    for fn in ACTIVITIES:
        runtime.register_activity(fn, name=fn.__name__)
    return runtime
