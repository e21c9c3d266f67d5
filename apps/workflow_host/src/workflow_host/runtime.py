"""The Dapr workflow runtime of workflow-host and the workflows registered on it."""

from __future__ import annotations

import dapr.ext.workflow as wf

wfr = wf.WorkflowRuntime()


@wfr.activity(name="ping")
def ping(_: wf.WorkflowActivityContext, message: str) -> str:
    return f"pong: {message}"


@wfr.workflow(name="smoke")
def smoke(ctx: wf.DaprWorkflowContext, message: str):
    """One activity: proves the worker, placement, scheduler and actor store are wired."""
    reply = yield ctx.call_activity(ping, input=message)
    return reply
