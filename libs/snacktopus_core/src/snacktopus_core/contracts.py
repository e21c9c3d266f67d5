"""The shapes that cross a boundary between the apps, or between an app and its callers
(the CLIs, the tools, the load tests): defined once here and imported by each side, as the
event schemas are in :mod:`snacktopus_core.events`.

- ``/recommend`` (workflow-host's ``recommend`` activity calls agent-shell through Dapr
  service invocation): :class:`RecommendRequest`, :class:`RecommendResponse`.
- Error bodies of both APIs: :class:`Problem` (what :mod:`snacktopus_core.errors` and
  FastAPI's ``HTTPException`` answer).
- A decision accepted by ``/human/decision`` (agent-shell relays workflow-host's answer)
  and ``/orders/{id}/decision|cancel``: :class:`DecisionAccepted`.
- Run statuses: :data:`RunStatus`, and the ones a run ends in, :data:`TERMINAL`.
- ``/ask`` (people, the console through service invocation, the load tests): its JSON
  answer :class:`AskResponse`, and the events of its streamed answer (``Accept:
  text/event-stream``, framed by :mod:`snacktopus_core.sse`): ``basket``
  (:class:`AskBasket`), ``explanation`` (:class:`AskExplanation`), ``done`` (the same
  :class:`AskResponse`), or ``error`` (:class:`Problem`) when the answer failed after the
  basket was sent. :data:`ASK_EVENTS` names them in order.

The models carry no docstrings on purpose: pydantic copies a docstring into the JSON
schema as its ``description``, and these schemas, names included, are the published
OpenAPI documents of both apps.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from snacktopus_core.events import SafetyFlag, TerminalStatus
from snacktopus_core.models import Basket, Id, Integer, Number

__all__ = [
    "ASK_EVENTS",
    "TERMINAL",
    "AskBasket",
    "AskExplanation",
    "AskResponse",
    "DecisionAccepted",
    "Problem",
    "RecommendRequest",
    "RecommendResponse",
    "RunStatus",
    "SafetySummary",
    "TerminalStatus",
]

# Where a run is (``RunRecord.status``, ``GET /orders?status=``). The terminal ones are
# ``TerminalStatus`` (kept in events.py, whose schemas cannot import this module).
RunStatus = Literal["running", "awaiting_approval", "compensating", TerminalStatus]
TERMINAL: frozenset[str] = frozenset(get_args(TerminalStatus))


class Problem(BaseModel):
    detail: str


class DecisionAccepted(BaseModel):
    order_id: str
    decision: str
    approver: str
    detail: str


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: Id
    user_id: Id
    request: str = Field(min_length=1, max_length=2000)
    headcount: Integer = Field(ge=1, le=500)
    budget_usd: Number = Field(gt=0, le=10_000)
    candidate_skus: list[Id] = Field(default=[], max_length=500)
    available: dict[Id, Integer] = Field(
        default={},
        max_length=500,
        description="Units per SKU not held by other orders; caps the basket's quantities.",
    )


class RecommendResponse(BaseModel):
    basket: Basket
    explanation: str
    degraded: bool
    flags: list[SafetyFlag]
    model: str | None


# ------------------------------------------------------------------------------ /ask
class DroppedSentence(BaseModel):
    text: str
    reasons: list[str] = Field(description="The checks it failed (ungrounded_food, ...).")


class Evaluation(BaseModel):
    grounded: bool = Field(description="Every sentence the model wrote passed every check.")
    score: float = Field(ge=0, le=1, description="Share of the model's sentences kept.")
    flags: list[SafetyFlag]
    explanation_source: Literal["model", "template"]
    model_sentences: int
    kept: list[str] = Field(description="The model's sentences shown, in order.")
    dropped: list[DroppedSentence] = Field(description="The model's sentences not shown, why.")


class SafetySummary(BaseModel):
    verdict: Literal["ok", "warn", "block"]
    flags: list[SafetyFlag]


class AskResponse(BaseModel):
    answer: str
    explanation: str = Field(description="The part of the answer that says why it fits.")
    session_id: str
    entry_id: str
    basket: Basket | None
    memory_used: list[str]
    tools_used: list[str]
    safety: SafetySummary
    evaluation: Evaluation | None
    degraded: bool
    blocked: bool
    model: str | None
    llm_ms: float | None
    trace_id: str | None


class AskBasket(BaseModel):
    session_id: str
    entry_id: str
    basket: Basket | None = Field(description="Priced by the tools; null when blocked.")
    safety: SafetySummary = Field(
        description="The question's flags and the basket's; the model's text is judged later "
        "(its flags are in `done`)."
    )
    memory_used: list[str]
    tools_used: list[str]
    blocked: bool
    trace_id: str | None


class AskExplanation(BaseModel):
    explanation: str = Field(description="After the grounding checks: never unchecked text.")
    explanation_source: Literal["model", "template", "refusal"]
    degraded: bool


ASK_EVENTS = ("basket", "explanation", "done")
