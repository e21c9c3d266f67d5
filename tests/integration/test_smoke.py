"""Smoke tests of the foundation: each real component answers through Dapr."""

from __future__ import annotations

import json
import secrets

import pytest

from tests.integration.conftest import new_id, wait_for_workflow, wait_until, zipkin_trace

pytestmark = pytest.mark.integration


def test_state_saved_through_daprd_lands_in_redis(stack, http, redis_client):
    key, value = new_id("smoke"), {"hello": "snacks", "n": 12}
    base = stack.url("workflow-dapr")
    r = http.post(f"{base}/v1.0/state/orderstate", json=[{"key": key, "value": value}])
    assert r.status_code == 204, r.text
    assert http.get(f"{base}/v1.0/state/orderstate/{key}").json() == value
    # state.redis keeps each key as a hash under "<app-id>||<key>"
    raw = redis_client.hget(f"workflow-host||{key}", "data")
    assert json.loads(raw) == value
    http.delete(f"{base}/v1.0/state/orderstate/{key}")
    assert not redis_client.exists(f"workflow-host||{key}")


def test_pubsub_round_trip_arrives_as_cloudevent(stack, http, probe):
    collector = probe("smoke.ping")
    marker = new_id("ping")
    r = http.post(
        f"{stack.url('probe-dapr')}/v1.0/publish/snackpubsub/smoke.ping", json={"marker": marker}
    )
    assert r.status_code == 204, r.text
    event = collector.wait_for(lambda e: (e.get("data") or {}).get("marker") == marker)
    assert event["specversion"] == "1.0"
    assert event["source"] == "event-probe"
    assert event["type"] == "com.dapr.event.sent"
    assert event["topic"] == "smoke.ping"
    assert event["pubsubname"] == "snackpubsub"
    assert event["datacontenttype"] == "application/json"
    assert event["id"] and event["time"]
    assert event["data"] == {"marker": marker}


def test_conversation_answered_by_the_model_through_dapr(stack, http):
    # The models run as completers (runtime/Modelfile.*): the prompt is text to go on.
    r = http.post(
        f"{stack.url('agent-dapr')}/v1.0-alpha2/conversation/llm/converse",
        json={
            "inputs": [
                {
                    "messages": [
                        {
                            "ofUser": {
                                "content": [{"text": "Good snacks for a team meeting are popcorn,"}]
                            }
                        }
                    ]
                }
            ],
            "temperature": 0,
        },
        timeout=120,
    )
    assert r.status_code == 200, r.text
    text = r.json()["outputs"][0]["choices"][0]["message"]["content"]
    assert isinstance(text, str) and text.strip()


def test_one_activity_workflow_completes(stack, http):
    instance = new_id("smoke")
    base = stack.url("workflow-dapr")
    r = http.post(
        f"{base}/v1.0/workflows/dapr/smoke/start",
        params={"instanceID": instance},
        json="crumbs",
    )
    assert r.status_code == 202, r.text
    state = wait_for_workflow(http, base, instance)
    assert state["runtimeStatus"] == "COMPLETED", state
    assert json.loads(state["properties"]["dapr.workflow.output"]) == "pong: crumbs"
    http.delete(f"{base}/v1.0/workflows/dapr/{instance}/purge")  # leave no state behind


def test_sidecar_span_reaches_zipkin(stack, http):
    trace_id = secrets.token_hex(16)
    parent = secrets.token_hex(8)
    r = http.get(
        f"{stack.url('workflow-dapr')}/v1.0/state/orderstate/{new_id('nothing')}",
        headers={"traceparent": f"00-{trace_id}-{parent}-01"},
    )
    assert r.status_code == 204, r.text
    spans = wait_until(lambda: zipkin_trace(http, stack.url("zipkin"), trace_id), 30, every=1.0)
    assert {s["traceId"] for s in spans} == {trace_id}
    assert any(s["localEndpoint"]["serviceName"] == "workflow-host" for s in spans)
    assert any(s.get("parentId") == parent for s in spans)


@pytest.mark.parametrize("app", ["agent", "workflow"])
def test_apps_answer_health_and_metrics(stack, http, app):
    base = stack.url(app)
    assert http.get(f"{base}/healthz").json()["status"] == "ok"
    ready = http.get(f"{base}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["sidecar"] is True
    metrics = http.get(f"{base}/metrics")
    assert metrics.status_code == 200
    assert "snacktopus_http_request_seconds" in metrics.text
