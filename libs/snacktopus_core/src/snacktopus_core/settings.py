"""Settings shared by every Snacktopus process, read with pydantic-settings.

Each app has one settings model of its own (``agent_shell.settings``,
``workflow_host.settings``) built on :class:`AppSettings`; the local stack's ports are not
the apps' business and live with the tools that run it (``tools/stack_settings.py``).
Values come from the environment, then ``.env``; ``.env.example`` lists every variable
with its default. Invalid values fail at start-up with pydantic's
message naming the variable, never later in a request.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_FILE = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")


def dapr_token_header(token: str | None) -> dict[str, str]:
    """The header a sidecar wants with its API token (none when no token is set)."""
    return {"dapr-api-token": token} if token else {}


def port_field(default: int, what: str) -> int:
    return Field(default=default, ge=1, le=65535, description=what)


class AppSettings(BaseSettings):
    """What every app needs: where its sidecar is, telemetry and logging."""

    model_config = ENV_FILE

    dapr_host: str = Field(default="127.0.0.1", description="Address of this app's sidecar.")
    # The Dapr SDK reads DAPR_HTTP_PORT / DAPR_GRPC_PORT / DAPR_API_TOKEN itself; the same
    # names here make them visible to our own code (readiness checks, httpx calls).
    dapr_http_port: int = port_field(3500, "This app's daprd HTTP port (DAPR_HTTP_PORT).")
    dapr_grpc_port: int = port_field(50001, "This app's daprd gRPC port (DAPR_GRPC_PORT).")
    dapr_api_token: str | None = Field(
        default=None,
        repr=False,
        description="Token this app sends to its sidecar (DAPR_API_TOKEN); set on both.",
    )
    app_api_token: str | None = Field(
        default=None,
        repr=False,
        description="Token the sidecar sends to this app (APP_API_TOKEN); when set, routes "
        "meant only for the sidecar refuse calls without it.",
    )
    app_host: str = "127.0.0.1"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    zipkin_endpoint: str = "http://127.0.0.1:9411/api/v2/spans"
    trace_sampling: float = Field(default=1.0, ge=0.0, le=1.0)
    tracing_enabled: bool = True
    pubsub_name: str = "snackpubsub"

    @property
    def dapr_http_url(self) -> str:
        return f"http://{self.dapr_host}:{self.dapr_http_port}"

    @property
    def sidecar_headers(self) -> dict[str, str]:
        """Headers for our own HTTP calls to the sidecar (the SDK adds the token itself)."""
        return dapr_token_header(self.dapr_api_token)


class RetentionSettings(AppSettings):
    """An app that forgets what it finished (:mod:`snacktopus_core.retention`): the same
    three settings, with the same meaning, in both apps."""

    run_retention_days: float = Field(
        default=30.0,
        gt=0,
        le=3650,
        description="What finished (an order, an ask) is forgotten this many days after.",
    )
    retention_sweep_interval_s: float = Field(default=3600.0, ge=1, le=7 * 24 * 3600)
    retention_sweep_limit: int = Field(default=500, ge=1, le=100_000)
