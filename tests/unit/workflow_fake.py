"""A fake orchestration context that drives a workflow generator without a sidecar.

As in dapr-ext-workflow's own tests, the fake stands in for durabletask's context under
the real ``DaprWorkflowContext``. Its ``call_activity``, ``create_timer`` and
``wait_for_external_event`` return real durabletask tasks, which the real ``when_all`` and
``when_any`` combine. ``respond`` answers each activity as soon as it is scheduled: it gets
the activity name and its input as the sidecar would receive it (encoded by the SDK's own
JSON encoder, then decoded), and returns a result or a :class:`Fail`. :func:`drive` then
feeds results and failures back into the generator, as the worker does on replay.

External events and timers happen in the order a test scripts: when the workflow waits on
something not yet complete, the next item of ``events`` arrives (a payload completes the
oldest waiting ``wait_for_external_event``; :data:`TIMER` fires the earliest pending
timer); with the script spent, the earliest pending timer fires. ``patched=False``
replays a history from before every ``ctx.is_patched`` change (the old path); a set of
names, one recorded with those patches only (a run started by a release between them).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dapr.ext.workflow import DaprWorkflowContext
from dapr.ext.workflow._durabletask import task
from dapr.ext.workflow._durabletask.internal import protos as pb
from dapr.ext.workflow._durabletask.internal.shared import from_json, to_json


@dataclass
class Fail:
    """An activity that still fails once its retries are spent."""

    message: str = "boom"
    error_type: str = "RuntimeError"


TIMER = "<timer fires>"


@dataclass
class Call:
    """One thing the workflow asked of the runtime, as the sidecar would record it."""

    kind: str  # "activity", "timer" or "event"
    name: str
    wire: str | None = None  # the activity input exactly as encoded for the sidecar
    retry: Any = None  # the durabletask retry policy, if any
    fire_at: datetime | timedelta | None = None
    turn: int = 0  # how many times the workflow had resumed when it asked

    @property
    def input(self) -> Any:
        return json.loads(self.wire) if self.wire is not None else None


class FakeOrchestrationContext:
    """What the worker's orchestration context offers a workflow, answered on the spot.

    ``event`` is the payload of the one external event that arrives (``None``: it never
    does, so every timer fires); ``events`` scripts several (see the module doc).
    """

    def __init__(
        self,
        respond: Callable[[str, Any], Any],
        *,
        event: Any = None,
        events: list[Any] | None = None,
        patched: bool | set[str] = True,
        instance_id: str = "ord-1",
        start: datetime = datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
    ) -> None:
        self.respond = respond
        self.script = list(events if events is not None else ([] if event is None else [event]))
        self.patched = patched
        self.patches: list[str] = []
        self.instance_id = instance_id
        self.current_utc_datetime = start
        self.is_replaying = False
        self.turn = 0
        self.calls: list[Call] = []
        self.custom_status: list[str] = []
        self._events: list[task.CompletableTask] = []
        self._timers: list[tuple[datetime, int, task.TimerTask]] = []

    # ------------------------------------------------------------ durabletask's context
    def set_custom_status(self, custom_status: str) -> None:
        self.custom_status.append(custom_status)

    def is_patched(self, patch_name: str) -> bool:
        self.patches.append(patch_name)
        if isinstance(self.patched, bool):
            return self.patched
        return patch_name in self.patched

    def call_activity(
        self, activity: str, *, input: Any = None, retry_policy: Any = None, **_: Any
    ) -> task.Task:
        wire = to_json(input) if input is not None else None
        self.calls.append(Call("activity", activity, wire, retry_policy, turn=self.turn))
        result = self.respond(activity, None if wire is None else from_json(wire))
        done: task.CompletableTask = task.CompletableTask()
        if isinstance(result, Fail):
            details = pb.TaskFailureDetails(
                errorType=result.error_type, errorMessage=result.message
            )
            seq = len(self.calls) - 1
            done.fail(f"{self.instance_id}: Activity task #{seq} failed: {result.message}", details)
        else:
            done.complete(None if result is None else from_json(to_json(result)))
        return done

    def create_timer(self, fire_at: datetime | timedelta) -> task.Task:
        self.calls.append(Call("timer", "timer", fire_at=fire_at, turn=self.turn))
        timer: task.TimerTask = task.TimerTask()
        at = fire_at if isinstance(fire_at, datetime) else self.current_utc_datetime + fire_at
        self._timers.append((at, len(self.calls), timer))
        return timer

    def wait_for_external_event(self, name: str, *, timeout: Any = None) -> task.Task:
        self.calls.append(Call("event", name, turn=self.turn))
        waiting: task.CompletableTask = task.CompletableTask()
        self._events.append(waiting)
        return waiting

    def happen(self) -> bool:
        """The next scripted thing happens; False when nothing more can."""
        if self.script and self.script[0] is not TIMER:
            if not self._events:
                return False
            self._events.pop(0).complete(from_json(to_json(self.script.pop(0))))
            return True
        if self.script:
            self.script.pop(0)
        pending = sorted((at, seq, t) for at, seq, t in self._timers if not t.is_complete)
        if not pending:
            return False
        at, _, timer = pending[0]
        self.current_utc_datetime = max(self.current_utc_datetime, at)
        timer.complete(None)
        return True

    # ------------------------------------------------------------ what a test reads
    @property
    def sequence(self) -> list[str]:
        """Every activity, timer and event, in the order the workflow asked for them."""
        return [c.name for c in self.calls]

    @property
    def batches(self) -> list[list[str]]:
        """The calls grouped by the resume they were asked in: what one orchestration turn
        schedules together, so a run needs as many turns as it has batches."""
        out: list[list[str]] = []
        for i, c in enumerate(self.calls):
            if i and c.turn == self.calls[i - 1].turn:
                out[-1].append(c.name)
            else:
                out.append([c.name])
        return out

    def inputs(self, activity: str) -> list[Any]:
        return [c.input for c in self.calls if c.kind == "activity" and c.name == activity]

    def _writes(self) -> list[tuple[str, Any]]:
        """The record saves and the events, in order: ``finish_run`` does both, the
        record first."""
        out: list[tuple[str, Any]] = []
        for c in self.calls:
            if c.kind != "activity":
                continue
            if c.name in ("save_run", "finish_run"):
                out.append(("record", c.input["record"]))
            if c.name == "publish_event":
                out.append(("event", c.input))
            if c.name == "finish_run":
                out.extend(("event", e) for e in c.input["events"])
        return out

    @property
    def records(self) -> list[dict[str, Any]]:
        """The run record as each ``save_run`` (or ``finish_run``) wrote it."""
        return [w for kind, w in self._writes() if kind == "record"]

    @property
    def published(self) -> list[tuple[str, dict[str, Any]]]:
        return [(w["topic"], w["data"]) for kind, w in self._writes() if kind == "event"]


def drive(
    workflow: Callable[[DaprWorkflowContext, Any], Generator[task.Task, Any, Any]],
    ctx: FakeOrchestrationContext,
    raw: Any,
    *,
    tick: timedelta = timedelta(seconds=1),
) -> Any:
    """Runs ``workflow`` to its end and returns its result (an exception it raises
    propagates, as it would fail the instance). The clock moves ``tick`` at every resume,
    as a new history event would move it."""
    gen = workflow(DaprWorkflowContext(ctx), raw)
    try:
        waiting = next(gen)
        while True:
            while not waiting.is_complete:
                if not ctx.happen():
                    raise AssertionError(
                        f"the workflow waits on a task nothing completes: {waiting}"
                    )
            ctx.current_utc_datetime += tick
            ctx.turn += 1
            if waiting.is_failed:
                waiting = gen.throw(waiting.get_exception())
            else:
                waiting = gen.send(waiting.get_result())
    except StopIteration as stop:
        return stop.value
