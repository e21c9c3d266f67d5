"""agent-shell's FastAPI app and entry point (``agent-shell`` console script)."""

from __future__ import annotations

import asyncio
import logging
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

from agent_shell import api, retention
from agent_shell.agent import Brain, wait_for_sidecar
from agent_shell.concierge import Concierge
from agent_shell.settings import get_settings

SERVICE = "agent-shell"
log = logging.getLogger("agent_shell.main")


def create_app() -> FastAPI:
    settings = get_settings()
    configure_logging(SERVICE, settings.log_level)
    configure_tracing(SERVICE, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.to_thread(wait_for_sidecar, settings)
        app.state.sidecar_http = sidecar.async_client(settings)
        brain = await asyncio.to_thread(Brain, settings)
        quiet_sdk_loggers()
        app.state.concierge = Concierge(settings, brain)
        # Recovery sweeps for the app's whole life (pending.py) and logs what it finishes;
        # it ends only when cancelled below, so any other end is a fault.
        recovery = asyncio.create_task(app.state.concierge.recover())
        recovery.add_done_callback(
            lambda t: t.cancelled() or log.error("recovery stopped", exc_info=t.exception())
        )
        sweeper = retention.start_sweeper(settings)
        try:
            yield
        finally:
            sweeper.set()
            recovery.cancel()
            await asyncio.to_thread(brain.shutdown)
            await sidecar.close_dapr_async_client()
            await app.state.sidecar_http.aclose()
            shutdown_tracing()

    app = new_app(
        title="Snacktopus agent-shell",
        version="0.1.0",
        description="The durable snack concierge agent: asks, memory, profiles, safety.",
        lifespan=lifespan,
    )
    app.include_router(
        ops_router(SERVICE, settings, {settings.llm_component, settings.memory_store})
    )
    app.include_router(api.router)
    instrument(app, SERVICE)
    return app


app = create_app()


def run() -> None:
    settings = get_settings()
    uvicorn.run(app, host=settings.app_host, port=settings.app_port, log_config=None)
