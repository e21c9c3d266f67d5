"""workflow-host's FastAPI app and entry point (``workflow-host`` console script)."""

from __future__ import annotations

from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from snacktopus_core import sidecar
from snacktopus_core.telemetry import (
    configure_logging,
    configure_tracing,
    quiet_sdk_loggers,
    shutdown_tracing,
)
from snacktopus_core.web import instrument, new_app, ops_router

from workflow_host import api, notify
from workflow_host.settings import get_settings

SERVICE = "workflow-host"


def create_app() -> FastAPI:
    settings = get_settings()
    configure_logging(SERVICE, settings.log_level)
    tracer = configure_tracing(SERVICE, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from workflow_host.runtime import build_runtime

        app.state.sidecar_http = sidecar.async_client(settings)
        wfr = build_runtime()
        wfr.start()
        quiet_sdk_loggers()
        try:
            yield
        finally:
            wfr.shutdown()
            await app.state.sidecar_http.aclose()
            sidecar.close_sync_clients()
            shutdown_tracing()

    app = new_app(
        title="Snacktopus workflow-host",
        version="0.1.0",
        description="The snacktopus Dapr workflow: start, inspect and approve orders.",
        lifespan=lifespan,
    )
    app.include_router(ops_router(SERVICE, settings, {settings.state_store, "workflowstate"}))
    app.include_router(api.router)
    app.include_router(notify.router)
    instrument(app, SERVICE, tracer)
    return app


app = create_app()


def run() -> None:
    settings = get_settings()
    uvicorn.run(app, host=settings.app_host, port=settings.app_port, log_config=None)
