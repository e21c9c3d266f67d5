"""agent-shell's settings (environment, then ``.env``)."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic import Field
from snacktopus_core.settings import AppSettings


class AgentSettings(AppSettings):
    app_id: ClassVar[str] = "agent-shell"
    app_port: int = Field(default=8001, ge=1, le=65535, alias="AGENT_APP_PORT")
    llm_component: str = Field(default="llm", description="Dapr conversation component.")
    memory_store: str = Field(default="agent-memory", description="Dapr state store for memory.")
    workflow_app_id: str = "workflow-host"


@lru_cache
def get_settings() -> AgentSettings:
    return AgentSettings()
