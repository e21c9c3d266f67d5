"""workflow-host's FastAPI app and entry point (``workflow-host`` console script)."""

from __future__ import annotations

from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from snacktopus_core import sidecar
from snacktopus_core.telemetry import (
    configure_logging,
    configure_tracing,
    quiet_sdk_loggers,
    shutdown_tracing,
)
from snacktopus_core.web import instrument, new_app, ops_router

from workflow_host import api, console, notify, retention
from workflow_host.settings import get_settings

SERVICE = "workflow-host"


def create_app() -> FastAPI:
    settings = get_settings()
    configure_logging(SERVICE, settings.log_level)
    configure_tracing(SERVICE, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from workflow_host.runtime import build_runtime

        app.state.sidecar_http = sidecar.async_client(settings)
        wfr = build_runtime()
        wfr.start()
        quiet_sdk_loggers()
        sweeper = retention.start_sweeper(settings)
        try:
            yield
        finally:
            sweeper.set()
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
    app.include_router(console.router)
    static = StaticFiles(directory=console.STATIC_DIR)
    app.mount(f"{console.PREFIX}/static", static, name="console-static")
    instrument(app, SERVICE)
    return app


app = create_app()


def run() -> None:
    settings = get_settings()
    uvicorn.run(app, host=settings.app_host, port=settings.app_port, log_config=None)
