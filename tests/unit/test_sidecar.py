"""The pooled sidecar clients: one per sidecar and token, made once."""

from __future__ import annotations

import pytest
from snacktopus_core import sidecar
from snacktopus_core.settings import AppSettings


@pytest.fixture(autouse=True)
def _fresh():
    sidecar.close_sync_clients()
    yield
    sidecar.close_sync_clients()


def test_one_client_per_sidecar_and_token_reused_across_calls():
    a = AppSettings(dapr_http_port=3600, dapr_api_token="t1")
    first = sidecar.sync_client(a)
    assert sidecar.sync_client(AppSettings(dapr_http_port=3600, dapr_api_token="t1")) is first
    assert str(first.base_url) == "http://127.0.0.1:3600"
    assert first.headers["dapr-api-token"] == "t1"
    assert sidecar.sync_client(AppSettings(dapr_http_port=3600, dapr_api_token="t2")) is not first
    assert sidecar.sync_client(AppSettings(dapr_http_port=3601, dapr_api_token="t1")) is not first


def test_a_closed_client_is_replaced():
    s = AppSettings(dapr_http_port=3600)
    first = sidecar.sync_client(s)
    sidecar.close_sync_clients()
    assert first.is_closed
    second = sidecar.sync_client(s)
    assert second is not first and not second.is_closed
    assert "dapr-api-token" not in second.headers
