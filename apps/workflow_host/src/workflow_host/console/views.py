"""What the console's pages show and do, built from the run records and the same calls the
runs API and the CLI make: decisions through ``api.decide`` (``approvals.decide``), starts
through ``api.create_order``, the concierge through Dapr service invocation."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import grpc
import httpx
from fastapi import Request
from pydantic import ValidationError
from snacktopus_core import sse
from snacktopus_core.errors import ServiceUnavailable, UnknownOrder

from workflow_host import api, approvals, store
from workflow_host.console import policy
from workflow_host.console.filters import utc
from workflow_host.runs import ApprovalDecision, RunRecord
from workflow_host.settings import get_settings

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


@dataclass(frozen=True)
class InboxRow:
    run: RunRecord
    deadline: datetime | None
    approvals: policy.ApprovalState


@dataclass(frozen=True)
class OrderPage:
    order_id: str
    workflow_status: str | None
    run: RunRecord | None
    deadline: datetime | None
    approvals: policy.ApprovalState | None
    refusal: str | None
    trace_url: str | None

    @property
    def signature(self) -> str:
        """Of the very record this page shows: a version read apart from it could be
        newer than what is shown, and the live stream would then never refetch."""
        return signature_of(self.run)

    @property
    def over_budget(self) -> bool:
        return bool(self.run and self.run.total_usd > self.run.request.budget_usd)


def deadline(run: RunRecord) -> datetime | None:
    """When a waiting order times out: the deadline the workflow recorded (approval
    policies path), else its approval request time plus the window its workflow input gave
    it. Unknown (None) while the workflow's state cannot be read: daprd 1.18.2 sometimes
    answers a read racing the instance's own write with UNKNOWN, and a page must not fail
    for a countdown."""
    if run.approval.deadline is not None:
        return utc(run.approval.deadline)
    if run.approval.requested_at is None:
        return None
    try:
        window = _window(run.order_id)
    except grpc.RpcError:
        return None  # not cached: the next page asks again
    return utc(run.approval.requested_at) + timedelta(seconds=window) if window else None


@lru_cache(maxsize=4096)
def _window(order_id: str) -> float | None:
    """An order's approval window from its workflow input, read once: the input never
    changes."""
    state = approvals.wf_client().get_workflow_state(order_id, fetch_payloads=True)
    raw = json.loads(state.serialized_input) if state and state.serialized_input else {}
    window = raw.get("approval_timeout_s") if isinstance(raw, dict) else None
    return float(window) if window else None


def _runs(order_ids: list[str]) -> list[RunRecord]:
    values = store.state().get_many([f"run:{o}" for o in order_ids])
    return [RunRecord.stored(v) for v, _ in values.values() if v]


def inbox() -> list[InboxRow]:
    """Orders waiting for a human, the one closest to its deadline first."""
    ids = [k for k, v in store.index().items() if v == "awaiting_approval"]
    rows = [
        InboxRow(run, deadline(run), policy.approval_state(run))
        for run in _runs(ids)
        if run.status == "awaiting_approval"
    ]
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(rows, key=lambda r: r.deadline or far)


def recent(limit: int = 8) -> list[RunRecord]:
    """The orders decided or finished last, newest first."""
    ids = [k for k, v in reversed(store.index().items()) if v != "awaiting_approval"][:limit]
    return sorted(_runs(ids), key=lambda r: r.updated_at, reverse=True)


def inbox_signature() -> str:
    """Changes whenever an order starts waiting, is decided or finishes."""
    index = store.index()
    waiting = sorted(k for k, v in index.items() if v == "awaiting_approval")
    return json.dumps([waiting, list(index.items())[-8:]])


def order_signature(order_id: str) -> str:
    return signature_of(approvals.load_run(order_id))


def signature_of(run: RunRecord | None) -> str:
    """What changes whenever the order page would: its status and last update."""
    return f"{run.status}|{run.updated_at.isoformat()}" if run else "none"


def order_page(order_id: str, approver: str) -> OrderPage:
    if not _ID.fullmatch(order_id):
        raise UnknownOrder(f"no order {order_id}")
    view = api.get_order(order_id)  # UnknownOrder (404) when neither record nor instance
    run = view.run
    trace = f"{get_settings().zipkin_ui}/traces/{run.trace_id}" if run and run.trace_id else None
    waiting = run is not None and run.status == "awaiting_approval"
    return OrderPage(
        order_id=order_id,
        workflow_status=view.workflow_status,
        run=run,
        deadline=deadline(run) if waiting else None,
        approvals=policy.approval_state(run) if run else None,
        refusal=policy.refusal(run, approver),
        trace_url=trace,
    )


def decide(order_id: str, approver: str, decision: str, comment: str | None) -> None:
    """The runs API's decision path, for the signed-in approver (who and when end up in the
    run record the workflow writes)."""
    if not _ID.fullmatch(order_id):
        raise UnknownOrder(f"no order {order_id}")
    policy.check_may_decide(approvals.load_run(order_id), approver)
    body = ApprovalDecision(decision=decision, approver=approver, comment=comment or None)
    api.decide(order_id, body)


def _ask_request(client: httpx.AsyncClient, user_id: str, question: str, accept: str):
    """agent-shell's ``/ask`` through our sidecar (service invocation, as the workflow's
    recommend call)."""
    s = get_settings()
    return client.build_request(
        "POST",
        f"/v1.0/invoke/{s.agent_app_id}/method/ask",
        json={"user_id": user_id, "question": question},
        headers={"accept": accept},
        timeout=s.recommend_timeout_s,
    )


async def _send(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """The response, its body not read yet; a refusal (4xx: ValueError) or a failure
    (ServiceUnavailable) raised before any of it is shown."""
    try:
        r = await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"the concierge could not be reached: {exc}") from exc
    if r.status_code >= 400:
        await r.aread()
        await r.aclose()
        if r.status_code >= 500:
            raise ServiceUnavailable(f"the concierge answered {r.status_code}: {r.text[:200]}")
        raise ValueError(_detail(r))
    return r


async def ask(client: httpx.AsyncClient, user_id: str, question: str) -> dict[str, Any]:
    """The concierge's whole answer, basket and explanation (``AskResponse``)."""
    r = await _send(client, _ask_request(client, user_id, question, "application/json"))
    await r.aread()
    await r.aclose()
    return r.json()


async def ask_streamed(
    client: httpx.AsyncClient, user_id: str, question: str
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """The streamed answer (``Accept: text/event-stream``), as ``(event, answer so far)``:
    ``basket`` (basket, prices, safety), ``explanation``, then ``done`` (the whole
    ``AskResponse``), or ``error`` (``Problem``). Refusals are raised before the first."""
    r = await _send(client, _ask_request(client, user_id, question, sse.MEDIA_TYPE))
    answer: dict[str, Any] = {}
    try:
        async for event in sse.aparse(r.aiter_lines()):
            answer = {**answer, **event.json()}
            yield event.event, answer
    finally:
        await r.aclose()


def _detail(r: httpx.Response) -> str:
    try:
        detail = r.json().get("detail")
    except ValueError:
        detail = r.text
    return f"the concierge refused the question: {str(detail)[:300]}"


def _number(field: str, text: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(text.strip())
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"{field}: give {what}, not '{text[:20]}'") from None


def place(request: Request, user_id: str, text: str, budget: str, headcount: str) -> str:
    """Starts an order through ``POST /orders``'s own code; returns its id. Bad input is a
    ValueError naming the field."""
    try:
        # A form sends text; the API's number fields are strict (no "20" for 20).
        body = api.OrderCreate(
            user_id=user_id,
            request=text,
            budget_usd=_number("budget_usd", budget, float),
            headcount=_number("headcount", headcount, int),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{where}: {first['msg']}") from exc
    response = api.create_order(body, request)
    return json.loads(response.body)["order_id"]
