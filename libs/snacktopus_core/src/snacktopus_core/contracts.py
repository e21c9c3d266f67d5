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
    "TERMINAL",
    "DecisionAccepted",
    "Problem",
    "RecommendRequest",
    "RecommendResponse",
    "RunStatus",
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
