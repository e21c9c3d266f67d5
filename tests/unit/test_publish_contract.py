"""workflow-host's publisher keeps the events' contract: Dapr's publish API checks only
the topic's scopes, so ``publish_event`` is where an off-contract event must stop. It
validates before it touches the sidecar, so this needs none."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import ValidationError
from workflow_host import activities

# The activity context the SDK hands an activity; publish_event reads only its id.
CTX = SimpleNamespace(workflow_id="ord-contract")


@pytest.mark.parametrize(
    "data",
    [
        {"order_id": "ord-contract", "status": "refunded", "forged": True},
        {"order_id": "ord-contract"},
    ],
)
def test_an_off_contract_event_is_refused_before_the_sidecar(data):
    with pytest.raises(ValidationError, match="OrderCompensated"):
        activities.publish_event(CTX, {"topic": "order.compensated", "data": data})


def test_an_unknown_topic_is_refused():
    with pytest.raises(KeyError):
        activities.publish_event(CTX, {"topic": "order.refunded", "data": {}})
