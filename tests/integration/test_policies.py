"""The approval policies on the real stack (test profile: four eyes above $60, ivan the
escalation group after 4 s): two different approvers above the dual threshold, the same
one twice refused, the requester refused (API 403 and CLI exit 7, the order untouched),
and the escalation group deciding once notified."""

from __future__ import annotations

import pytest

from tests.integration.conftest import (
    decide,
    new_id,
    start_order,
    wait_mail,
    wait_run,
)
from tests.integration.test_cli import cli
from tests.support import BIG_ORDER, HUGE_ORDER, wait_until

pytestmark = pytest.mark.integration


def _votes(http, stack, order_id):
    r = http.get(f"{stack.url('workflow')}/orders/{order_id}")
    return [v["approver"] for v in r.json()["run"]["approval"]["votes"]]


def test_four_eyes_one_approval_waits_the_same_approver_twice_is_refused(http, stack):
    order_id = start_order(http, stack, user_id=new_id("u"), **HUGE_ORDER)
    run = wait_run(http, stack, order_id, {"awaiting_approval"})
    assert run["total_usd"] > 60 and run["approval"]["required_approvals"] == 2

    assert decide(http, stack, order_id, "alice", "approve").status_code == 202
    wait_until(lambda: _votes(http, stack, order_id) == ["alice"])
    assert wait_run(http, stack, order_id, {"awaiting_approval"})["status"] == "awaiting_approval"
    again = decide(http, stack, order_id, "alice", "approve")
    assert again.status_code == 409, again.text
    assert "a second, different approver" in again.json()["detail"]

    assert decide(http, stack, order_id, "bob", "approve").status_code == 202
    done = wait_run(http, stack, order_id)
    assert done["status"] == "completed"
    approval = done["approval"]
    assert approval["approver"] == "alice,bob"
    assert [(v["approver"], v["decision"]) for v in approval["votes"]] == [
        ("alice", "approve"),
        ("bob", "approve"),
    ]
    assert all(v["at"] for v in approval["votes"])
    late = decide(http, stack, order_id, "carol", "approve")
    assert late.status_code == 409, late.text


def test_four_eyes_ends_on_one_rejection(http, stack):
    order_id = start_order(http, stack, user_id=new_id("u"), **HUGE_ORDER)
    wait_run(http, stack, order_id, {"awaiting_approval"})
    assert decide(http, stack, order_id, "alice", "approve").status_code == 202
    assert decide(http, stack, order_id, "bob", "reject").status_code == 202
    done = wait_run(http, stack, order_id)
    assert done["status"] == "rejected" and done["compensations"]


def test_the_requester_cannot_approve_their_own_order(http, stack):
    order_id = start_order(http, stack, user_id="erin", **BIG_ORDER)
    wait_run(http, stack, order_id, {"awaiting_approval"})

    own = decide(http, stack, order_id, "erin", "approve")
    assert own.status_code == 403, own.text
    assert "cannot approve their own order" in own.json()["detail"]
    token = stack.settings.approver_token("erin")
    refused = cli("approve", order_id, "--approver", "erin", token=token)
    assert refused.returncode == 7, refused.stdout + refused.stderr
    assert "cannot approve their own order" in " ".join(refused.stderr.split())
    run = wait_run(http, stack, order_id, {"awaiting_approval"})
    assert run["approval"]["votes"] == []

    assert decide(http, stack, order_id, "alice", "approve").status_code == 202
    assert wait_run(http, stack, order_id)["status"] == "completed"


def test_escalation_notifies_the_group_which_may_then_decide(http, stack):
    order_id = start_order(http, stack, user_id=new_id("u"), **BIG_ORDER)
    mail = wait_mail(stack, order_id, "[Snacktopus] Escalated")
    assert mail.to == "escalation@snacktopus.local"
    assert wait_run(http, stack, order_id, {"awaiting_approval"})["approval"]["escalated_at"]

    assert decide(http, stack, order_id, "ivan", "approve").status_code == 202
    done = wait_run(http, stack, order_id)
    assert (done["status"], done["approval"]["approver"]) == ("completed", "ivan")
