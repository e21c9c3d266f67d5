"""Security, enforced by the real sidecars and apps: component scopes (an app cannot reach
another app's state, topics or secrets), the Dapr API token and app API tokens, approver
authentication against the secret store, and no credential in logs or traces."""

from __future__ import annotations

import httpx
import pytest
from snacktopus_core.events import Evaluated

from tests.integration.conftest import (
    as_approver,
    decide,
    new_id,
    run_record,
    wait_run,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def user() -> str:
    return new_id("u")  # no profile needed: the agent uses defaults


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


def test_apps_publish_valid_events_on_their_own_topics(http, stack, probe):
    """A valid event on agent-shell's own topic, through its real sidecar, is accepted (so
    the 403s above are scopes) and reaches a subscriber as sent. Dapr's publish API checks
    the topic against the publishing scopes and nothing of the payload, so the events'
    contract is kept where the apps publish: agent-shell publishes only the event models,
    and workflow-host's ``publish_event`` validates before it calls the sidecar
    (``tests/unit/test_publish_contract.py``). No off-contract event is put on the bus:
    the event-probe would keep it for the stack's lifetime."""
    marker = new_id("contract")
    valid = Evaluated(user_id=marker, grounded=True, degraded=False, score=1.0)
    r = http.post(
        f"{stack.url('agent-dapr')}/v1.0/publish/snackpubsub/agent.evaluated",
        content=valid.model_dump_json(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 204, r.text
    got = probe("agent.evaluated").wait_for(lambda e: e["data"]["user_id"] == marker)
    assert Evaluated.model_validate(got["data"]) == valid


def test_sidecars_refuse_calls_without_the_dapr_api_token(stack):
    for sidecar in ("agent-dapr", "workflow-dapr", "probe-dapr"):
        bare = httpx.get(f"{stack.url(sidecar)}/v1.0/metadata", timeout=10)
        assert bare.status_code == 401, (sidecar, bare.text)
        wrong = httpx.get(
            f"{stack.url(sidecar)}/v1.0/metadata", headers={"dapr-api-token": "nope"}, timeout=10
        )
        assert wrong.status_code == 401, (sidecar, wrong.text)
        good = httpx.get(
            f"{stack.url(sidecar)}/v1.0/metadata",
            headers=stack.settings.sidecar_headers(),
            timeout=10,
        )
        assert good.status_code == 200, (sidecar, good.text)


def test_sidecar_only_routes_refuse_direct_calls_without_the_app_token(http, stack, user):
    body = {
        "order_id": new_id("direct"),
        "user_id": user,
        "request": "snacks",
        "headcount": 2,
        "budget_usd": 10,
    }
    direct = http.post(f"{stack.url('agent')}/recommend", json=body)
    assert direct.status_code == 401, direct.text
    assert "sidecar only" in direct.json()["detail"]
    # The same call through the sidecar (service invocation) carries the app token.
    invoked = http.post(
        f"{stack.url('workflow-dapr')}/v1.0/invoke/agent-shell/method/recommend", json=body
    )
    assert invoked.status_code == 200, invoked.text
    assert invoked.json()["basket"]["lines"]


# ------------------------------------------------------------------ approvers
def test_approvers_authenticate_and_the_decision_records_who(http, stack, waiting):
    agent = f"{stack.url('agent')}/human/decision"
    body = {"order_id": waiting, "decision": "approve", "approver": "alice"}
    missing = http.post(agent, json=body)
    assert missing.status_code == 401 and "Bearer" in missing.json()["detail"]
    impostor = http.post(agent, json=body, headers=as_approver(stack, "bob"))
    assert impostor.status_code == 403
    assert impostor.json()["detail"] == "this token does not belong to approver 'alice'"
    forged = http.post(agent, json=body, headers={"authorization": "Bearer forged"})
    assert forged.status_code == 403
    stranger = decide(http, stack, waiting, "mallory", "approve", token_of="alice")
    assert stranger.status_code == 403 and "not a known approver" in stranger.text
    # None of the refused attempts touched the order.
    assert run_record(http, stack, waiting)["approval"]["decision"] is None
    ok = http.post(agent, json=body, headers=as_approver(stack, "alice"))
    assert ok.status_code == 202, ok.text
    run = wait_run(http, stack, waiting)
    assert run["status"] == "completed"
    assert run["approval"]["approver"] == "alice"


def test_agent_shell_cannot_read_the_approver_tokens(http, stack):
    r = http.get(f"{stack.url('agent-dapr')}/v1.0/secrets/snack-secrets/approver-alice")
    # Locally agent-shell's sidecar has no secret store at all (500 ..._NOT_CONFIGURED);
    # on Kubernetes it has the built-in one, and snack-secrets is not found (401).
    refusals = {500: "ERR_SECRET_STORES_NOT_CONFIGURED", 401: "ERR_SECRET_STORE_NOT_FOUND"}
    assert refusals.get(r.status_code) == r.json()["errorCode"], r.text
    assert stack.settings.approver_token("alice") not in r.text
    own = http.get(f"{stack.url('workflow-dapr')}/v1.0/secrets/snack-secrets/approver-alice")
    assert own.status_code == 200
    assert own.json() == {"approver-alice": stack.settings.approver_token("alice")}


# ------------------------------------------------------------------ no secret leaks
def _secrets(stack) -> dict[str, str]:
    tokens = stack.settings.local_tokens()
    found = {"dapr_api_token": tokens["dapr_api_token"]}
    found.update({f"app token {k}": v for k, v in tokens["app_api_tokens"].items()})
    found.update({a: stack.settings.approver_token(a) for a in stack.settings.approvers})
    return found


def test_no_token_appears_in_logs_or_traces(http, stack, waiting):
    # A fresh authenticated decision (and a refused one) so the logs and spans hold them.
    http.post(
        f"{stack.url('agent')}/human/decision",
        json={"order_id": waiting, "decision": "reject", "approver": "bob"},
        headers=as_approver(stack, "alice"),
    )
    http.post(
        f"{stack.url('agent')}/human/decision",
        json={"order_id": waiting, "decision": "reject", "approver": "bob", "comment": "no"},
        headers=as_approver(stack, "bob"),
    ).raise_for_status()
    run = wait_run(http, stack, waiting)
    secrets = _secrets(stack)
    logs = {p.name: p.read_text(errors="replace") for p in stack.stack.logs.glob("*.log")}
    assert len(logs) >= 8
    for name, text in logs.items():
        for what, value in secrets.items():
            assert value not in text, f"{what} appears in {name}"

    def traced() -> str | None:
        # Every trace of the last minutes: the run's own and the decision requests' ones.
        r = http.get(
            f"{stack.url('zipkin')}/api/v2/traces", params={"lookback": 600_000, "limit": 2000}
        )
        dump = r.text
        decisions = '"name":"post /human/decision"' in dump.lower()
        return dump if decisions and run["trace_id"] in dump else None

    spans = wait_until(traced, 30)
    for what, value in secrets.items():
        assert value not in spans, f"{what} appears in a trace"
