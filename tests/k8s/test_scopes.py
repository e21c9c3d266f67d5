"""Component scopes hold in the cluster: an app outside a component's scope is refused by
its own sidecar, while the app in scope gets through."""

from __future__ import annotations

import pytest

from tests.k8s.conftest import pod_of


@pytest.fixture(scope="module")
def sidecars(forwards):
    return {app: forwards(pod_of(app), 3500).url for app in ("agent-shell", "workflow-host")}


def test_the_approver_secrets_are_out_of_agent_shells_reach(http, apps, sidecars):
    path = "/v1.0/secrets/snack-secrets/approver-alice"
    headers = {"dapr-api-token": apps.dapr_token}
    refused = http.get(sidecars["agent-shell"] + path, headers=headers)
    # In Kubernetes mode every sidecar has the built-in `kubernetes` secret store, so the
    # scoped-out store is one daprd does not know: 401 ERR_SECRET_STORE_NOT_FOUND (daprd
    # 1.18.2, messages.ErrSecretStoreNotFound), not an error of the store itself.
    assert refused.status_code == 401, refused.text
    assert refused.json()["errorCode"] == "ERR_SECRET_STORE_NOT_FOUND", refused.text
    assert "snack-secrets" in refused.json()["message"], refused.text
    allowed = http.get(sidecars["workflow-host"] + path, headers=headers)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["approver-alice"]


def test_the_order_store_is_workflow_hosts_alone(http, apps, sidecars):
    headers = {"dapr-api-token": apps.dapr_token}
    refused = http.get(sidecars["agent-shell"] + "/v1.0/state/orderstate/anything", headers=headers)
    assert refused.status_code == 400, refused.text
    assert refused.json()["errorCode"] == "ERR_STATE_STORE_NOT_FOUND", refused.text
    assert "orderstate" in refused.json()["message"], refused.text
    assert http.get(
        sidecars["workflow-host"] + "/v1.0/state/orderstate/anything", headers=headers
    ).status_code in (200, 204)


def test_a_sidecar_refuses_calls_without_the_api_token(http, sidecars):
    assert http.get(sidecars["workflow-host"] + "/v1.0/metadata").status_code == 401


def test_only_workflow_host_may_invoke_agent_shells_recommend(
    http, apps, probe, forwards, sidecars
):
    """The `snacktopus` Configuration's access control, judged by daprd on the caller's mTLS
    identity: another app id of the namespace (the test subscriber) is refused before
    agent-shell sees the call; workflow-host gets through to the app (which then answers
    the empty body with its own 422)."""
    headers = {"dapr-api-token": apps.dapr_token}
    other = forwards("deploy/event-probe", 3500).url
    for method, path in (("POST", "recommend"), ("GET", "profile/someone")):
        refused = http.request(
            method, f"{other}/v1.0/invoke/agent-shell/method/{path}", json={}, headers=headers
        )
        assert refused.status_code == 403, (path, refused.status_code, refused.text)
        assert "access control policy has denied access" in refused.text, refused.text
    allowed = http.post(
        sidecars["workflow-host"] + "/v1.0/invoke/agent-shell/method/recommend",
        json={},
        headers=headers,
    )
    assert allowed.status_code == 422, allowed.text
    assert allowed.json()["detail"], allowed.text
