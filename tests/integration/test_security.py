"""Component scopes, enforced by the real sidecars: an app cannot reach another app's state
or publish on another app's topics."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_agent_shell_cannot_read_workflow_hosts_state(http, stack):
    r = http.get(f"{stack.url('agent-dapr')}/v1.0/state/orderstate/runs-index")
    assert r.status_code in (400, 500), r.text
    assert "orderstate" in r.text and "not found" in r.text


def test_workflow_host_cannot_read_the_agents_memory(http, stack):
    r = http.get(f"{stack.url('workflow-dapr')}/v1.0/state/agent-memory/profile:anyone")
    assert r.status_code in (400, 500), r.text
    assert "agent-memory" in r.text and "not found" in r.text


@pytest.mark.parametrize(
    ("sidecar", "topic"),
    [
        ("agent-dapr", "order.completed"),
        ("agent-dapr", "order.compensated"),
        ("workflow-dapr", "agent.safety_flagged"),
        ("probe-dapr", "order.completed"),
    ],
)
def test_apps_cannot_publish_on_each_others_topics(http, stack, sidecar, topic):
    r = http.post(f"{stack.url(sidecar)}/v1.0/publish/snackpubsub/{topic}", json={"forged": True})
    assert r.status_code == 403, r.text
    assert "not allowed" in r.text


def test_apps_can_publish_their_own_topics_only_with_valid_events(http, stack):
    # The allowed direction works (the agent's own topic), so the 403s above are scopes.
    r = http.post(
        f"{stack.url('agent-dapr')}/v1.0/publish/snackpubsub/agent.evaluated",
        json={"probe": "scope-check"},
    )
    assert r.status_code == 204, r.text
