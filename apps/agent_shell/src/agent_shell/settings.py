"""agent-shell's settings (environment, then ``.env``)."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic import Field, model_validator
from snacktopus_core.settings import RetentionSettings


class AgentSettings(RetentionSettings):
    """agent-shell's settings; retention's (RUN_RETENTION_DAYS...) come with the base:
    a finished ask's workflow instance and keys are forgotten (retention.py)."""

    app_id: ClassVar[str] = "agent-shell"
    app_port: int = Field(default=8001, ge=1, le=65535, alias="AGENT_APP_PORT")
    agent_name: str = "snack-concierge"
    llm_component: str = Field(default="llm", description="Dapr conversation component.")
    llm_model_label: str = Field(
        default="gemma3:270m",
        description="Reported in answers: the model behind the llm component (the local "
        "stack sets it from OLLAMA_MODEL: gemma3:270m or smollm2:135m, see make eval).",
    )
    # Past this the answer comes from the tools alone, marked degraded (never hangs).
    llm_timeout_s: float = Field(default=30.0, gt=0, le=600)
    # The model gate (gate.py): calls in flight at once, as many as the model's parallel
    # slots (OLLAMA_NUM_PARALLEL); the rest wait here, at most half of LLM_TIMEOUT_S, not
    # in Ollama's queue. /recommend calls use at most LLM_BACKGROUND_SLOTS of them, so a
    # person's /ask always finds one free; LLM_PRIORITY=false puts every call in one line,
    # first come first served (what the load test compares).
    llm_slots: int = Field(default=2, ge=1, le=64)
    llm_background_slots: int = Field(default=1, ge=1, le=64)
    llm_priority: bool = True
    # How long an ask being answered stays its replica's without a renewal (renewed every
    # third of it): a replica that stops has its asks taken over by another this long
    # after. Not tied to LLM_TIMEOUT_S, as a live owner renews however long it takes; at
    # least 3 s, so renewals stay a second apart.
    pending_lease_s: float = Field(default=15.0, ge=3, le=600)
    # A tiny model cannot drive tool calls; a larger one may (tools are offered to it).
    agent_model_tools: bool = False
    memory_store: str = Field(default="agent-memory", description="Dapr state store for memory.")
    memory_summarize_after: int = Field(default=12, ge=2, le=500)
    memory_keep_recent: int = Field(default=6, ge=1, le=100)
    memory_max_entries: int = Field(default=40, ge=2, le=1000)
    memory_max_sessions: int = Field(default=20, ge=1, le=1000)
    memory_max_age_days: float = Field(default=90, gt=0, le=3650)
    recall_entries: int = Field(default=3, ge=0, le=20)
    workflow_app_id: str = "workflow-host"
    default_headcount: int = Field(default=10, ge=1, le=500)
    default_budget_usd: float = Field(default=60.0, gt=0, le=10_000)

    @model_validator(mode="after")
    def _background_within_slots(self) -> AgentSettings:
        if self.llm_background_slots > self.llm_slots:
            raise ValueError("LLM_BACKGROUND_SLOTS must not exceed LLM_SLOTS")
        return self


@lru_cache
def get_settings() -> AgentSettings:
    return AgentSettings()
