"""agent-shell's FastAPI app and entry point (``agent-shell`` console script)."""

from __future__ import annotations

from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from snacktopus_core.telemetry import configure_logging, configure_tracing, shutdown_tracing
from snacktopus_core.web import instrument, ops_router

from agent_shell.settings import get_settings

SERVICE = "agent-shell"


def create_app() -> FastAPI:
    settings = get_settings()
    configure_logging(SERVICE, settings.log_level)
    tracer = configure_tracing(SERVICE, settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        shutdown_tracing()

    app = FastAPI(
        title="Snacktopus agent-shell",
        version="0.1.0",
        description="The durable snack concierge agent.",
        lifespan=lifespan,
    )
    app.include_router(
        ops_router(SERVICE, settings, {settings.llm_component, settings.memory_store})
    )
    instrument(app, SERVICE, tracer)
    return app


app = create_app()


def run() -> None:
    settings = get_settings()
    uvicorn.run(app, host=settings.app_host, port=settings.app_port, log_config=None)
