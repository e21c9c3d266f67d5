"""workflow-host's settings (environment, then ``.env``)."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic import Field
from snacktopus_core.settings import AppSettings


class WorkflowSettings(AppSettings):
    app_id: ClassVar[str] = "workflow-host"
    app_port: int = Field(default=8002, ge=1, le=65535, alias="WORKFLOW_APP_PORT")
    state_store: str = Field(default="orderstate", description="Runs, reservations, ledger.")
    agent_app_id: str = "agent-shell"
    approval_threshold_usd: float = Field(default=50.0, ge=0)
    approval_timeout_s: float = Field(default=300.0, gt=0, le=7 * 24 * 3600)


@lru_cache
def get_settings() -> WorkflowSettings:
    return WorkflowSettings()
