"""agent-shell's HTTP API. Pydantic models in and out; 422 on a malformed body, precise
4xx on a well-formed one that cannot be served (a domain error from
``snacktopus_core.errors``, answered by the app's one handler from the shared table)."""

from __future__ import annotations

from typing import Annotated, Literal

import httpx
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from snacktopus_core import sse
from snacktopus_core.catalog import Sku, price_basket
from snacktopus_core.contracts import (
    AskResponse,
    DecisionAccepted,
    DroppedSentence,
    Evaluation,
    Problem,
    RecommendRequest,
    RecommendResponse,
    SafetySummary,
)
from snacktopus_core.errors import NotAuthenticated, ServiceUnavailable, UnknownProfile
from snacktopus_core.events import SafetyFlag
from snacktopus_core.models import NON_BLANK, Basket, Id, Integer, Number, Profile
from snacktopus_core.safety import check_basket, check_text, verdict
from snacktopus_core.telemetry import current_trace_id
from snacktopus_core.web import sidecar_only

from agent_shell import evaluator, profiles, streaming
from agent_shell.concierge import Concierge, Outcome
from agent_shell.memory import MemoryEntry
from agent_shell.profiles import ProfileIn, ProfilePatch
from agent_shell.settings import get_settings

router = APIRouter()


def concierge(request: Request) -> Concierge:
    return request.app.state.concierge


# ------------------------------------------------------------------------------ /ask
class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: Id
    session_id: Id | None = Field(default=None, description="Omit to start a new session.")
    question: str = Field(min_length=1, max_length=4000, pattern=NON_BLANK)


# AskResponse (and the streamed answer's events): snacktopus_core.contracts, shared with
# the console, which asks through service invocation.
def _evaluation(ev: evaluator.Evaluation) -> Evaluation:
    return Evaluation(
        grounded=ev.grounded,
        score=ev.score,
        flags=ev.flags,
        explanation_source="model" if ev.use_model_text else "template",
        model_sentences=ev.model_sentences,
        kept=ev.kept,
        dropped=[DroppedSentence(text=d.text, reasons=d.reasons) for d in ev.dropped],
    )


def ask_response(out: Outcome) -> AskResponse:
    return AskResponse(
        answer=out.answer,
        explanation=out.explanation,
        session_id=out.session_id,
        entry_id=out.entry_id,
        basket=out.basket,
        memory_used=out.memory_used,
        tools_used=out.tools_used,
        safety=SafetySummary(verdict=out.safety_verdict, flags=out.safety_flags),
        evaluation=_evaluation(out.evaluation) if out.evaluation else None,
        degraded=out.degraded,
        blocked=out.blocked,
        model=out.model,
        llm_ms=out.llm_ms,
        trace_id=out.trace_id,
    )


STREAM_DOC = (
    "With `Accept: text/event-stream` the answer is streamed as Server-Sent Events: "
    "`basket` first (the basket, its prices and the safety flags known before the model "
    "writes: `AskBasket`), then `explanation` once the model's text passed the grounding "
    "checks (`AskExplanation`; never unchecked text), then `done` with the very body the "
    "JSON answer gives (`AskResponse`). A request refused before the basket (422, 4xx, "
    "503) is answered as without the header, as JSON with its status, never as a stream; "
    "a failure after the basket is an `error` event (`Problem`) ending the stream."
)


@router.post(
    "/ask",
    response_model=AskResponse,
    tags=["agent"],
    summary="Ask the concierge; the answer is remembered in the user's history.",
    description=STREAM_DOC,
    responses={
        200: {
            "content": {
                sse.MEDIA_TYPE: {
                    "schema": {"type": "string"},
                    "example": streaming.EXAMPLE,
                }
            }
        }
    },
)
async def ask(body: AskRequest, request: Request) -> AskResponse | StreamingResponse:
    c = concierge(request)
    if not sse.wants_stream(request.headers.get("accept")):
        return ask_response(await c.ask(body.user_id, body.session_id, body.question))
    start = await c.begin_ask(body.user_id, body.session_id, body.question)
    answering = c.spawn(c.complete_ask(start))  # before the stream: it ends even unread
    return StreamingResponse(
        streaming.ask_events(start, answering, ask_response),
        media_type=sse.MEDIA_TYPE,
        headers=sse.HEADERS,
    )


# -------------------------------------------------------------------------- /history
class HistoryPage(BaseModel):
    user_id: str
    session_id: str | None
    total: int
    offset: int
    items: list[MemoryEntry]


@router.get(
    "/history",
    response_model=HistoryPage,
    tags=["agent"],
    summary="A user's questions and answers, newest first, per session or all.",
)
async def history(
    request: Request,
    user_id: Annotated[Id, Query()],
    session_id: Annotated[Id | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> HistoryPage:
    items, total = await concierge(request).memory.history(user_id, session_id, limit, offset)
    return HistoryPage(
        user_id=user_id, session_id=session_id, total=total, offset=offset, items=items
    )


# -------------------------------------------------------------------------- /profile
@router.get(
    "/profile/{user_id}",
    response_model=Profile,
    tags=["profile"],
    responses={404: {"model": Problem}},
)
async def get_profile(user_id: Id) -> Profile:
    profile = await profiles.get(user_id)
    if profile is None:
        raise UnknownProfile(f"no profile for {user_id}")
    return profile


@router.put(
    "/profile/{user_id}",
    response_model=Profile,
    tags=["profile"],
    summary="Create or replace a profile.",
)
async def put_profile(user_id: Id, body: ProfileIn) -> Profile:
    return await profiles.put(user_id, body)


@router.patch(
    "/profile/{user_id}",
    response_model=Profile,
    tags=["profile"],
    responses={404: {"model": Problem}},
    summary="Change some fields of a profile.",
)
async def patch_profile(user_id: Id, body: ProfilePatch) -> Profile:
    profile = await profiles.patch(user_id, body)
    if profile is None:
        raise UnknownProfile(f"no profile for {user_id}: PUT one first")
    return profile


# --------------------------------------------------------------------------- /safety
class BasketItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Sku
    quantity: Integer = Field(ge=1, le=1000)


class SafetyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: Id
    text: str = Field(min_length=1, max_length=20_000)
    basket: list[BasketItem] | None = Field(default=None, max_length=50)
    budget_usd: Number | None = Field(default=None, gt=0, le=100_000)


class SafetyResponse(BaseModel):
    verdict: Literal["ok", "warn", "block"]
    flags: list[SafetyFlag]
    basket: Basket | None


@router.post(
    "/safety",
    response_model=SafetyResponse,
    tags=["safety"],
    summary="Evaluate a text (and optionally a basket) for a user.",
)
async def safety(body: SafetyRequest) -> SafetyResponse:
    profile = await profiles.get(body.user_id)
    flags = check_text(body.text)
    basket = None
    if body.basket:
        basket = price_basket((i.sku, i.quantity) for i in body.basket)
        flags += check_basket(basket, profile, budget_usd=body.budget_usd)
    await evaluator.report(
        get_settings(),
        source="safety",
        user_id=body.user_id,
        session_id=None,
        order_id=None,
        flags=flags,
        trace_id=current_trace_id(),
    )
    return SafetyResponse(verdict=verdict(flags), flags=flags, basket=basket)


# ------------------------------------------------------------------------ /recommend
# RecommendRequest/RecommendResponse: snacktopus_core.contracts, shared with the caller,
# workflow-host's ``recommend`` activity.
@router.post(
    "/recommend",
    response_model=RecommendResponse,
    tags=["agent"],
    summary="A basket and its explanation for an order (workflow-host invokes this).",
    description="Only agent-shell's sidecar may call this (service invocation from "
    "workflow-host): with `APP_API_TOKEN` set, a call without the sidecar's token is 401.",
    dependencies=[Depends(sidecar_only(get_settings()))],
    responses={401: {"model": Problem}},
)
async def recommend(body: RecommendRequest, request: Request) -> RecommendResponse:
    out = await concierge(request).recommend(
        body.order_id,
        body.user_id,
        body.request,
        body.headcount,
        body.budget_usd,
        body.candidate_skus,
        body.available or None,
    )
    return RecommendResponse.model_validate(out)


# -------------------------------------------------------------------- /human/decision
class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    order_id: Id
    decision: Literal["approve", "reject"]
    approver: str = Field(min_length=1, max_length=80, pattern=NON_BLANK)
    comment: str | None = Field(default=None, max_length=500)


@router.post(
    "/human/decision",
    status_code=202,
    tags=["approvals"],
    responses={
        202: {"model": DecisionAccepted},
        401: {"model": Problem},
        403: {"model": Problem},
        404: {"model": Problem},
        409: {"model": Problem},
        503: {"model": Problem},
    },
    summary="Approve or reject an order waiting for a human.",
)
async def human_decision(
    body: DecisionRequest,
    request: Request,
    authorization: Annotated[
        str | None,
        Header(description="`Bearer <token>`: the approver's token from the secret store."),
    ] = None,
) -> Response:
    """Raises the order's ``humanApproval`` event. Workflow instances belong to
    workflow-host's sidecar, so the event is raised there, reached through Dapr service
    invocation; its answer (202; 401 no token; 403 a token that is not this approver's;
    404 unknown order; 409 not waiting or decided) is relayed. workflow-host checks the
    token against the secret store, which only it may read (component scopes)."""
    if not authorization:
        raise NotAuthenticated("approvers authenticate: send 'Authorization: Bearer <token>'")
    s = get_settings()
    path = f"/v1.0/invoke/{s.workflow_app_id}/method/orders/{body.order_id}/decision"
    payload = {"decision": body.decision, "approver": body.approver, "comment": body.comment}
    http: httpx.AsyncClient = request.app.state.sidecar_http
    try:
        r = await http.post(path, json=payload, headers={"authorization": authorization})
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"workflow-host unreachable: {exc}") from exc
    if r.status_code >= 500:
        raise ServiceUnavailable(f"workflow-host answered {r.status_code}: {r.text[:200]}")
    return Response(content=r.content, status_code=r.status_code, media_type="application/json")
