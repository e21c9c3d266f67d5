"""agent-shell in the cluster: /ask through a port-forward, answered by the in-cluster Ollama
through the Dapr conversation API, traced into the in-cluster Zipkin."""

from __future__ import annotations

from tests.k8s.conftest import kubectl, new_id, pod_of, wait_until


def _chats() -> int:
    """Chat requests the in-cluster Ollama has logged (its GIN access log)."""
    log = kubectl("logs", pod_of("ollama"))
    return sum(1 for line in log.splitlines() if "POST" in line and "chat" in line)


def test_ask_is_answered_by_the_model_in_the_cluster(http, apps):
    before = _chats()
    r = http.post(
        f"{apps.agent}/ask",
        json={"user_id": new_id("u"), "question": "Suggest a healthy snack for 3 people"},
        timeout=180,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answer"].strip()
    assert body["degraded"] is False, body
    assert "smollm2" in (body["model"] or ""), body
    assert body["llm_ms"] and body["llm_ms"] > 0
    # The model's server saw the chat request.
    wait_until(lambda: _chats() > before, timeout=20, every=1)

    # ... and the ask is one trace in the in-cluster Zipkin, app and sidecar spans together.
    def trace():
        got = http.get(f"{apps.zipkin}/api/v2/trace/{body['trace_id']}")
        spans = got.json() if got.status_code == 200 else []
        names = {s["name"] for s in spans}
        # The app's request span and the sidecar's conversation call to the model.
        wanted = {"post /ask", "/dapr.proto.runtime.v1.dapr/conversealpha2"}
        return spans if wanted <= names else None

    spans = wait_until(trace, timeout=60, every=2)
    assert {s["localEndpoint"]["serviceName"] for s in spans} >= {"agent-shell"}
    assert any("dapr.api" in s.get("tags", {}) for s in spans)


def test_bad_input_is_a_precise_422_in_the_cluster_too(http, apps):
    r = http.post(f"{apps.agent}/ask", json={"user_id": "", "question": "hi"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "user_id"]
