"""Logging, tracing and metrics set-up shared by both apps.

- Logs: one JSON object per line on stderr, carrying the current trace and span ids so a
  log line leads to its trace in Zipkin.
- Traces: the OpenTelemetry SDK with the Zipkin JSON exporter (see README for why not the
  meta package), sampled by ``trace_sampling``, parent-based so a sampled upstream
  ``traceparent`` (from daprd) keeps the whole order in one trace.
- Metrics: prometheus-client's default registry, served at ``/metrics`` by each app.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping

from opentelemetry import propagate, trace
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from snacktopus_core.settings import AppSettings

_configured: set[str] = set()


class JsonFormatter(logging.Formatter):
    """Structured log lines; ``extra={...}`` fields are merged into the object."""

    _skip = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        ctx = trace.get_current_span().get_span_context()
        out: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if ctx.is_valid:
            out["trace_id"] = format(ctx.trace_id, "032x")
            out["span_id"] = format(ctx.span_id, "016x")
        for key, value in record.__dict__.items():
            if key not in self._skip and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    quiet_sdk_loggers()


# The Dapr workflow SDK's loggers. Each logs every orchestration turn and activity at
# INFO, and each adds a plain-text handler of its own whenever a worker or client is made
# (one more per DaprWorkflowClient), on top of propagating to our JSON handler: left alone,
# every line is written two or more times, and a run of 13 activities writes ~70 (make bench).
SDK_LOGGERS = (
    "durabletask-worker",
    "durabletask-client",
    "WorkflowRuntime",
    "DaprWorkflowClient",
    "DaprWorkflowContext",
    "WorkflowActivityContext",
)


def quiet_sdk_loggers() -> None:
    """Routes the workflow SDK's loggers through our JSON handler only, at WARNING unless
    the root logger is at DEBUG. The level holds (the SDK sets its handlers' levels, not
    its loggers'); call it again after making SDK workers or clients to drop the handlers
    they added."""
    level = logging.DEBUG if logging.getLogger().level <= logging.DEBUG else logging.WARNING
    for name in SDK_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
        logger.setLevel(level)


def configure_tracing(service: str, settings: AppSettings) -> trace.Tracer:
    """Install the global tracer provider once per process and return a tracer."""
    if service not in _configured and settings.tracing_enabled:
        provider = TracerProvider(
            resource=Resource.create({SERVICE_NAME: service}),
            sampler=ParentBased(TraceIdRatioBased(settings.trace_sampling)),
        )
        provider.add_span_processor(
            BatchSpanProcessor(
                ZipkinExporter(endpoint=settings.zipkin_endpoint), schedule_delay_millis=500
            )
        )
        trace.set_tracer_provider(provider)
        propagate.set_global_textmap(TraceContextTextMapPropagator())
        _instrument_clients()
        _configured.add(service)
    return trace.get_tracer(service)


def _instrument_clients() -> None:
    from opentelemetry.instrumentation.grpc import (
        GrpcAioInstrumentorClient,
        GrpcInstrumentorClient,
    )
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    GrpcInstrumentorClient().instrument()
    GrpcAioInstrumentorClient().instrument()
    HTTPXClientInstrumentor().instrument()


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def context_from_traceparent(traceparent: str | None):
    """An OpenTelemetry context whose parent is ``traceparent`` (or the empty context)."""
    carrier: Mapping[str, str] = {"traceparent": traceparent} if traceparent else {}
    return propagate.extract(carrier)


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(2000)
        provider.shutdown()
