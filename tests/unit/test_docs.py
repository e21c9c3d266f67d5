"""Both apps' API docs (/docs, /redoc) work with no internet: every script, stylesheet, icon
and OpenAPI document the pages load is served by the app itself. Each app is built with its
real factory; no sidecar is needed until the lifespan runs, which a bare TestClient skips."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from snacktopus_core.web import DOCS_ASSETS

from tests.support import check_docs_served_locally, metric_sum


@pytest.fixture(scope="module", params=["agent_shell", "workflow_host"])
def client(request) -> Iterator[TestClient]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    settings = importlib.import_module(f"{request.param}.settings")
    with pytest.MonkeyPatch.context() as mp:
        # No span exporter: there is no Zipkin here, and a provider set now would stay for
        # the whole test session.
        mp.setenv("TRACING_ENABLED", "false")
        settings.get_settings.cache_clear()
        main = importlib.import_module(f"{request.param}.main")
        yield TestClient(main.create_app())
    settings.get_settings.cache_clear()  # later tests read the real environment again
    root.handlers[:], level = saved  # create_app installs its JSON log handler
    root.setLevel(level)


def test_docs_pages_load_only_what_the_app_serves(client):
    loaded = check_docs_served_locally(client)
    # The pages are the real UIs, not FastAPI's CDN ones nor empty shells.
    assert f"{DOCS_ASSETS}/swagger-ui-bundle.js" in loaded["/docs"]
    assert f"{DOCS_ASSETS}/swagger-ui.css" in loaded["/docs"]
    assert f"{DOCS_ASSETS}/redoc.standalone.js" in loaded["/redoc"]
    assert "/openapi.json" in loaded["/docs"] and "/openapi.json" in loaded["/redoc"]
    assert b"SwaggerUIBundle" in client.get(f"{DOCS_ASSETS}/swagger-ui-bundle.js").content


def test_docs_assets_are_timed_under_one_route_label(client):
    def served(route: str) -> float:
        text = generate_latest().decode()
        return metric_sum(text, "snacktopus_http_request_seconds_count", route=route)

    before = served(DOCS_ASSETS), served("unmatched")
    assert client.get(f"{DOCS_ASSETS}/swagger-ui.css").status_code == 200
    assert client.get(f"{DOCS_ASSETS}/redoc.standalone.js").status_code == 200
    assert client.get("/no-such-path").status_code == 404
    assert (served(DOCS_ASSETS), served("unmatched")) == (before[0] + 2, before[1] + 1)


def test_docs_assets_stay_out_of_the_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/healthz" in paths  # the document is the app's own
    assert not [p for p in paths if p.startswith(("/docs", "/redoc", DOCS_ASSETS))]
