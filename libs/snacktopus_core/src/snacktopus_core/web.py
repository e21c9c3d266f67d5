"""FastAPI pieces both apps mount: the app object itself (with offline API docs), health,
readiness and metrics endpoints."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from snacktopus_core import errors
from snacktopus_core.contracts import Problem
from snacktopus_core.errors import SnacktopusError
from snacktopus_core.settings import AppSettings

HTTP_LATENCY = Histogram(
    "snacktopus_http_request_seconds",
    "HTTP request latency by route and status class.",
    ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

# Where each app serves the Swagger UI and ReDoc JavaScript, CSS and favicon.
DOCS_ASSETS = "/docs-assets"


def new_app(**kwargs: Any) -> FastAPI:
    """The FastAPI object of an app (``kwargs`` go to ``FastAPI``), with ``/docs`` (Swagger
    UI) and ``/redoc`` whose assets come from this app under :data:`DOCS_ASSETS`.

    FastAPI's own pages load them from a CDN (and ReDoc its fonts from Google), so on the
    air-gapped clusters we ship to they are blank. ``fastapi-offline`` carries the assets in
    its wheel, so they come from ``uv.lock`` like any dependency and land in the images.

    Every domain error is answered as :data:`snacktopus_core.errors.ERRORS` says
    (:func:`problem_response`), so no route maps one to a status by hand; a 405 names every
    method of its path (:func:`method_not_allowed`), and the OpenAPI document gives the 400
    FastAPI answers to a body it cannot parse (:func:`document_unparsable_bodies`)."""
    app = FastAPIOffline(static_url=DOCS_ASSETS, **kwargs)
    app.add_exception_handler(SnacktopusError, problem_response)
    app.add_exception_handler(405, method_not_allowed)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document_unparsable_bodies(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


HTTP_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"})
UNPARSABLE_BODY = "The body is not text (not UTF-8), so it cannot be read as JSON."


def document_unparsable_bodies(schema: dict[str, Any]) -> None:
    """Adds to every operation that takes a body the 400 FastAPI answers, with
    ``{"detail": "There was an error parsing the body"}``, to bytes that are not UTF-8 (text
    that is not JSON is a 422 ``json_invalid``). FastAPI answers it before any route code
    runs and leaves it out of the document; an operation documenting its own 400 keeps it."""
    problem = "#/components/schemas/Problem"
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Problem", Problem.model_json_schema(ref_template=problem))
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation["responses"].setdefault(
                    "400",
                    {
                        "description": UNPARSABLE_BODY,
                        "content": {"application/json": {"schema": {"$ref": problem}}},
                    },
                )


async def method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    """405 with an ``Allow`` header naming every method the path has (RFC 9110 15.5.6).
    Starlette names only the methods of the first route whose path matches, so ``/orders``
    (a ``POST`` route and a ``GET`` route) would advertise ``POST`` alone. The methods are
    the OpenAPI document's for the path, the document clients read, plus Starlette's for
    the pages the document leaves out (``/docs``, ``/openapi.json``)."""
    headers = exc.headers if isinstance(exc, StarletteHTTPException) else None
    methods = {m.strip() for m in (headers or {}).get("Allow", "").split(",") if m.strip()}
    for template, item in request.app.openapi().get("paths", {}).items():
        if compile_path(template)[0].match(request.url.path):
            methods |= {m.upper() for m in item if m.upper() in HTTP_METHODS}
    detail = exc.detail if isinstance(exc, StarletteHTTPException) else "Method Not Allowed"
    return JSONResponse(
        {"detail": detail}, status_code=405, headers={"Allow": ", ".join(sorted(methods))}
    )


async def problem_response(_: Request, exc: Exception) -> JSONResponse:
    """A domain error's answer: its status and headers from the table, and the body
    ``HTTPException`` gives (``{"detail": ...}``), so one ``Problem`` model documents both."""
    row = errors.spec(exc)  # registered for SnacktopusError only
    return JSONResponse({"detail": str(exc)}, status_code=row.status, headers=dict(row.headers))


class Health(BaseModel):
    status: str
    service: str


class Readiness(BaseModel):
    ready: bool
    service: str
    sidecar: bool
    components: list[str]
    detail: str | None = None


def ops_router(service: str, settings: AppSettings, required_components: set[str]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", response_model=Health, summary="Liveness: the process answers.")
    async def healthz() -> Health:
        return Health(status="ok", service=service)

    @router.get(
        "/readyz",
        response_model=Readiness,
        summary="Readiness: the sidecar answers and the components this app needs are loaded.",
        responses={503: {"model": Readiness}},
    )
    async def readyz(request: Request) -> Response:
        try:
            client: httpx.AsyncClient = request.app.state.sidecar_http
            meta = (await client.get("/v1.0/metadata", timeout=2.0)).json()
        except (httpx.HTTPError, ValueError) as exc:
            body = Readiness(
                ready=False, service=service, sidecar=False, components=[], detail=str(exc)
            )
            return JSONResponse(body.model_dump(), status_code=503)
        names = sorted(c["name"] for c in meta.get("components", []))
        missing = sorted(required_components - set(names))
        body = Readiness(
            ready=not missing,
            service=service,
            sidecar=True,
            components=names,
            detail=f"missing components: {', '.join(missing)}" if missing else None,
        )
        return JSONResponse(body.model_dump(), status_code=200 if not missing else 503)

    @router.get("/metrics", summary="Prometheus metrics.", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def sidecar_only(settings: AppSettings) -> Callable[[Request], None]:
    """A route dependency for routes only this app's sidecar may call (service invocation,
    pub/sub delivery): with ``APP_API_TOKEN`` set, daprd sends it as ``dapr-api-token`` and
    a call without it (someone reaching the app port directly) gets 401."""

    def check(request: Request) -> None:
        expected = settings.app_api_token
        if not expected:
            return
        given = request.headers.get("dapr-api-token", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise HTTPException(
                status_code=401,
                detail="this route is for the Dapr sidecar only: missing or wrong app API token",
            )

    return check


def instrument(app: FastAPI, service: str) -> None:
    """Traces and times every request.

    The server span (named after the route template, child of the caller's
    ``traceparent`` from daprd, with the ``http.*`` tags) comes from
    opentelemetry-instrumentation-fastapi; its per-message ``http send``/``http receive``
    spans are left out, one span per request is what an order's trace needs. The latency
    histogram is ours: the instrumentation's metrics go to the OpenTelemetry meter, and
    the apps serve Prometheus' registry.
    """
    FastAPIInstrumentor.instrument_app(app, exclude_spans=["receive", "send"])

    @app.middleware("http")
    async def _time(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        path = getattr(request.scope.get("route"), "path", None)
        if path is None:
            # The docs assets are a mount, not a route: one label for all of them, kept
            # apart from the paths nothing answers.
            docs = request.url.path.startswith(f"{DOCS_ASSETS}/")
            path = DOCS_ASSETS if docs else "unmatched"
        if path not in {"/metrics", "/healthz"}:
            HTTP_LATENCY.labels(
                service, request.method, path, f"{response.status_code // 100}xx"
            ).observe(time.perf_counter() - start)
        return response
