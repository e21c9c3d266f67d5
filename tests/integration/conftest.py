"""The real local stack, started once per test session and stopped after.

If a stack started with the test profile is already running (``make up-test``) it is
reused and left running; a dev-profile stack is refused, because its settings (approval
timeout of minutes) are not the test settings.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis
from workflow_host.runs import TERMINAL

from tests.support import BIG_ORDER, LONG_APPROVAL_S, metric_sum, wait_until
from tools.devstack import Stack
from tools.stack_settings import StackSettings


@dataclass
class StackInfo:
    settings: StackSettings
    stack: Stack

    def url(self, what: str) -> str:
        s = self.settings
        ports = {
            "agent": s.agent_app_port,
            "workflow": s.workflow_app_port,
            "agent-dapr": s.agent_dapr_http_port,
            "workflow-dapr": s.workflow_dapr_http_port,
            "probe-dapr": s.probe_dapr_http_port,
            "zipkin": s.zipkin_port,
            "ollama": s.ollama_port,
        }
        return f"http://127.0.0.1:{ports[what]}"


@pytest.fixture(scope="session")
def stack() -> Iterator[StackInfo]:
    settings = StackSettings()
    st = Stack(settings)
    started = False
    if st.supervisord_pid() is not None:
        if st.profile() != "test":
            pytest.fail(
                f"a '{st.profile()}' stack is running: `make down` first (tests need the "
                "test profile: short approval timeout, event-probe sidecar)"
            )
    else:
        # The test profile sets short timeouts (devstack.TEST_PROFILE_ENV_DEFAULTS).
        st.up("test", True, timeout=300)
        started = True
    yield StackInfo(settings, st)
    if started:
        st.down()


@pytest.fixture(scope="session")
def redis_client(stack: StackInfo) -> Iterator[redis.Redis]:
    """Direct Redis access, to prove what Dapr wrote (apps never open Redis)."""
    client = redis.Redis(host="127.0.0.1", port=stack.settings.redis_port, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def http(stack: StackInfo) -> Iterator[httpx.Client]:
    """Carries the stack's Dapr API token: the sidecars refuse calls without it (the apps'
    own ports ignore the header)."""
    with httpx.Client(timeout=60.0, headers=stack.settings.sidecar_headers()) as client:
        yield client


def as_approver(stack: StackInfo, approver: str) -> dict[str, str]:
    """The ``Authorization`` header of one of the local stack's approvers."""
    headers = stack.settings.approver_auth(approver)
    assert headers, f"the local stack issued no token for approver '{approver}'"
    return headers


def decide(
    http: httpx.Client,
    stack: StackInfo,
    order_id: str,
    approver: str,
    decision: str,
    comment: str | None = None,
    *,
    token_of: str | None = None,
) -> httpx.Response:
    """``POST /orders/{id}/decision`` in ``approver``'s name, with the token of
    ``token_of`` (default: the approver's own); the response, unchecked (each test asserts
    the status it expects)."""
    body: dict[str, Any] = {"decision": decision, "approver": approver}
    if comment is not None:
        body["comment"] = comment
    return http.post(
        f"{stack.url('workflow')}/orders/{order_id}/decision",
        json=body,
        headers=as_approver(stack, token_of or approver),
    )


class TopicCollector:
    """The CloudEvents of one topic as received by the ``event-probe`` subscriber app
    (``tools/event_probe.py``, under its own sidecar in the test profile)."""

    def __init__(self, probe_url: str, topic: str) -> None:
        self.url = f"{probe_url}/events"
        self.topic = topic

    def all(self) -> list[dict[str, Any]]:
        r = httpx.get(self.url, params={"topic": self.topic}, timeout=5)
        r.raise_for_status()
        return [e["cloudevent"] for e in r.json()]

    def matching(self, match: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """The events ``match`` accepts. An event whose data lacks what ``match`` reads (an
        off-contract event someone published on the topic: the sidecar does not check
        payloads, and the probe keeps what it received for the stack's lifetime) is no
        match, rather than a KeyError in every later test and session."""

        def matches(event: dict[str, Any]) -> bool:
            try:
                return bool(match(event))
            except (KeyError, TypeError, AttributeError):
                return False

        return [e for e in self.all() if matches(e)]

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float = 30.0):
        found = wait_until(lambda: self.matching(match), timeout=timeout, every=0.25)
        return found[0]


@pytest.fixture(scope="session")
def probe(stack: StackInfo) -> Callable[[str], TopicCollector]:
    def subscribe(topic: str) -> TopicCollector:
        return TopicCollector(f"http://127.0.0.1:{stack.settings.probe_app_port}", topic)

    return subscribe


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def answers(url: str) -> bool:
    """True once ``url`` answers 2xx; a refused connection (restarting process) is False."""
    try:
        return httpx.get(url, timeout=2).is_success
    except httpx.HTTPError:
        return False


WORKFLOW_TERMINAL = {"COMPLETED", "FAILED", "TERMINATED"}


def wait_for_workflow(http: httpx.Client, dapr_base: str, instance: str, timeout: float = 60):
    """Polls the Dapr workflow HTTP API until the instance reaches a terminal status."""

    def terminal() -> dict[str, Any] | None:
        r = http.get(f"{dapr_base}/v1.0/workflows/dapr/{instance}")
        if r.status_code != 200:
            return None
        state = r.json()
        return state if state.get("runtimeStatus") in WORKFLOW_TERMINAL else None

    return wait_until(terminal, timeout=timeout)


def zipkin_trace(http: httpx.Client, zipkin_base: str, trace_id: str) -> list[dict[str, Any]]:
    r = http.get(f"{zipkin_base}/api/v2/trace/{trace_id}")
    return r.json() if r.status_code == 200 else []


# ------------------------------------------------------------------------ notifications
@dataclass
class Mail:
    """One message the stack's SMTP server received (its Maildir, .run/mail)."""

    to: str
    subject: str
    body: str  # decoded (the binding sends quoted-printable HTML)
    raw: str


def mails(stack: StackInfo, order_id: str) -> list[Mail]:
    """Every mail about ``order_id`` the SMTP server stored so far."""
    out = []
    for msg in mailbox.Maildir(stack.stack.s.maildir, factory=None, create=False):
        raw = msg.as_string()
        parsed = email.message_from_string(raw, policy=email.policy.default)
        body = parsed.get_body().get_content()
        subject = str(parsed["subject"])
        if order_id in subject or order_id in body:
            out.append(Mail(str(parsed["to"]), subject, body, raw))
    return out


def wait_mail(stack: StackInfo, order_id: str, subject: str, timeout: float = 60) -> Mail:
    """The first mail about ``order_id`` whose subject holds ``subject``."""
    found = wait_until(
        lambda: [m for m in mails(stack, order_id) if subject in m.subject], timeout, every=0.5
    )
    return found[0]


def webhooks(stack: StackInfo, order_id: str) -> list[dict[str, Any]]:
    """The JSON posts about ``order_id`` the probe received as the chat webhook."""
    import json

    r = httpx.get(f"http://127.0.0.1:{stack.settings.probe_app_port}/webhooks", timeout=5)
    posts = [json.loads(w["body"]) | {"content_type": w["content_type"]} for w in r.json()]
    return [p for p in posts if p["data"]["order_id"] == order_id]


# ------------------------------------------------------------------------ order helpers


def redis_json(redis_client: redis.Redis, app_id: str, key: str) -> Any:
    """A value as Dapr's state.redis stored it (hash field ``data`` of ``<app>||<key>``)."""
    import json

    raw = redis_client.hget(f"{app_id}||{key}", "data")
    return json.loads(raw) if raw is not None else None


def metric_total(http: httpx.Client, url: str, name: str, **labels: str) -> float:
    """The sum of the ``name`` samples at ``url/metrics`` whose labels include ``labels``."""
    return metric_sum(http.get(f"{url}/metrics").text, name, **labels)


# Orders start_order started, checked after each test (_no_order_left_waiting).
_started: list[tuple[StackInfo, str]] = []


def start_order(
    http: httpx.Client,
    stack: StackInfo,
    *,
    approval_timeout_s: float | None = LONG_APPROVAL_S,
    **body: Any,
) -> str:
    """Starts an order through ``POST /orders``. Above the threshold it waits
    LONG_APPROVAL_S for a human, so a test deciding it never races the timer, unless the
    test gives its own window (SHORT_APPROVAL_S to test the timeout) or None (the stack's
    APPROVAL_TIMEOUT_S). What a test leaves waiting is cancelled after it."""
    body.setdefault("order_id", new_id("ord"))
    if approval_timeout_s is not None:
        body["approval_timeout_s"] = approval_timeout_s
    r = http.post(f"{stack.url('workflow')}/orders", json=body)
    assert r.status_code == 202, r.text
    _started.append((stack, body["order_id"]))
    return body["order_id"]


def start_direct(http: httpx.Client, stack: StackInfo, order_id: str, body: Any) -> httpx.Response:
    """Starts a ``snacktopus`` run straight through Dapr's workflow HTTP API (no
    ``POST /orders``), with ``body`` as its input and ``order_id`` as its instance id."""
    return http.post(
        f"{stack.url('workflow-dapr')}/v1.0/workflows/dapr/snacktopus/start",
        params={"instanceID": order_id},
        json=body,
    )


def run_record(http: httpx.Client, stack: StackInfo, order_id: str) -> dict[str, Any] | None:
    r = http.get(f"{stack.url('workflow')}/orders/{order_id}")
    return r.json()["run"] if r.status_code == 200 else None


def wait_run(
    http: httpx.Client,
    stack: StackInfo,
    order_id: str,
    statuses: Collection[str] = TERMINAL,
    timeout: float = 120,
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        run = run_record(http, stack, order_id)
        return run if run and run["status"] in statuses else None

    return wait_until(reached, timeout=timeout, every=0.3)


@pytest.fixture
def waiting(http: httpx.Client, stack: StackInfo) -> str:
    """An order above the test threshold, waiting for a human (LONG_APPROVAL_S)."""
    order_id = start_order(http, stack, user_id=new_id("u"), **BIG_ORDER)
    wait_run(http, stack, order_id, {"awaiting_approval"})
    return order_id


def forgotten(stack: StackInfo, order_id: str) -> None:
    """An order the test purged on purpose (retention): nothing is left to cancel."""
    _started.remove((stack, order_id))


@pytest.fixture(autouse=True)
def _no_order_left_waiting() -> Iterator[None]:
    """After each test, an order it started and left waiting for a human is cancelled and
    its undo steps awaited: with a long window it would otherwise time out minutes later
    and release its stock in the middle of another test's counts."""
    yield
    left, _started[:] = list(_started), []
    with httpx.Client(timeout=30) as http:
        for stack, order_id in left:
            # A run still on its way to the approval step gets there (or ends) first.
            run = wait_run(http, stack, order_id, {"awaiting_approval", *TERMINAL}, timeout=60)
            if run["status"] != "awaiting_approval":
                continue
            r = http.post(
                f"{stack.url('workflow')}/orders/{order_id}/cancel",
                json={"requester": "test-teardown", "reason": "left waiting by the test"},
            )
            assert r.status_code in (202, 409), r.text  # 409: decided meanwhile
            wait_run(http, stack, order_id)
