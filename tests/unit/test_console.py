"""The console's pieces that need no stack: the session cookie and CSRF token, who may
decide, how approvals and time left read. The browser tests (tests/e2e) cover the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from pydantic import ValidationError
from snacktopus_core.errors import Forbidden, NotAuthenticated
from snacktopus_core.models import OrderRequest
from workflow_host.console import filters, policy
from workflow_host.console import session as sessions
from workflow_host.runs import Approval, RunRecord, Vote
from workflow_host.settings import WorkflowSettings, get_settings

KEY = "k" * 32


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("CONSOLE_SESSION_KEY", KEY)
    get_settings.cache_clear()
    sessions._key.cache_clear()
    yield
    get_settings.cache_clear()
    sessions._key.cache_clear()


def test_a_session_survives_its_cookie():
    s = sessions.Session(sid="abc", approver="alice", fp="f" * 64)
    assert sessions.decode(sessions.encode(s)) == s
    assert sessions.decode(None) is None


def test_a_tampered_cookie_is_not_a_session():
    cookie = sessions.encode(sessions.Session(sid="abc", approver="alice", fp="x"))
    payload = cookie.partition(".")[0]
    forged = URLSafeTimedSerializer("another key", salt=sessions.SALT).dumps(
        {"sid": "abc", "approver": "bob", "fp": "x"}
    )
    for bad in (payload + ".AAAA.BBBB", forged, cookie[:-2]):
        with pytest.raises(NotAuthenticated, match="not valid"):
            sessions.decode(bad)


def test_an_old_cookie_has_expired():
    class Yesterday(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(datetime.now(UTC).timestamp()) - 25 * 3600

    old = URLSafeTimedSerializer(KEY, salt=sessions.SALT, signer=Yesterday).dumps(
        {"sid": "abc", "approver": "alice", "fp": "x"}
    )
    with pytest.raises(NotAuthenticated, match="expired"):
        sessions.decode(old)


def test_the_csrf_token_belongs_to_one_session():
    mine, theirs = sessions.anonymous(), sessions.anonymous()
    sessions.check_csrf(mine, sessions.csrf_token(mine))
    for session, token in ((mine, sessions.csrf_token(theirs)), (mine, ""), (None, "x")):
        with pytest.raises(Forbidden, match="CSRF"):
            sessions.check_csrf(session, token)


def test_the_cookie_is_httponly_and_strict():
    args = sessions.cookie_args()
    assert args["httponly"] is True and args["samesite"] == "strict"
    assert args["max_age"] == get_settings().console_session_ttl_s


@pytest.mark.parametrize("value", ["short", "x" * 15])
def test_a_short_signing_key_is_refused(monkeypatch, value):
    monkeypatch.setenv("CONSOLE_SESSION_KEY", value)
    with pytest.raises(ValidationError, match="16 characters"):
        WorkflowSettings(_env_file=None)


def test_an_empty_signing_key_means_the_secret_store(monkeypatch):
    monkeypatch.setenv("CONSOLE_SESSION_KEY", "")
    assert WorkflowSettings(_env_file=None).console_session_key is None


def _run(status="awaiting_approval", user="u-1", **approval) -> RunRecord:
    now = datetime.now(UTC)
    order = OrderRequest(order_id="o-1", user_id=user, request="x", budget_usd=50, headcount=3)
    return RunRecord(
        order_id="o-1",
        user_id=user,
        request=order,
        status=status,
        started_at=now,
        updated_at=now,
        approval=Approval(required=True, **approval),
    )


def test_who_may_decide():
    assert policy.refusal(_run(), "alice") is None
    assert "you asked" in policy.refusal(_run(user="alice"), "alice")
    assert "completed" in policy.refusal(_run("completed"), "alice")
    assert "not reached" in policy.refusal(None, "alice")
    with pytest.raises(Forbidden, match="you asked"):
        policy.check_may_decide(_run(user="alice"), "alice")
    policy.check_may_decide(_run("completed"), "alice")  # approvals.decide answers 409


def test_one_decision_reads_as_one_of_one():
    state = policy.approval_state(_run("completed", decision="approve", approver="bob"))
    assert state.summary == "1 of 1 approval"
    assert [e.approver for e in state.entries] == ["bob"]


def test_a_record_with_several_votes_reads_as_n_of_m():
    """The record the four-eyes path writes (runs.Approval with its votes), read back."""
    approval = Approval(
        required=True,
        required_approvals=2,
        votes=[Vote(approver="bob", decision="approve", at=datetime.now(UTC), comment="ok")],
    )
    state = policy.approval_state_of(approval.model_dump())
    assert state.summary == "1 of 2 approvals"
    assert (state.entries[0].approver, state.entries[0].comment) == ("bob", "ok")
    assert policy.approval_state_of({"required": False}).summary.startswith("no approval")


def test_time_left_reads_as_a_person_says_it():
    now = datetime.now(UTC)
    assert filters.left(None) == "no deadline known"
    assert filters.left(now - timedelta(seconds=5)) == "due now"
    assert filters.left(now + timedelta(minutes=4, seconds=30)).startswith("4 min")
    assert filters.left((now + timedelta(hours=2, minutes=1)).replace(tzinfo=None)).startswith(
        "2 h"
    )


def test_a_placed_orders_numbers_are_read_from_the_form_or_refused_by_name():
    """The API's number fields are strict (no "20" for 20): the form's text is read as a
    number first, and text that is not one is refused naming its field."""
    from workflow_host.console import views

    assert views._number("headcount", " 4 ", int) == 4
    assert views._number("budget_usd", "20.5", float) == 20.5
    with pytest.raises(ValueError, match="headcount: give a whole number"):
        views._number("headcount", "4.5", int)
    with pytest.raises(ValueError, match="budget_usd: give a number"):
        views._number("budget_usd", "", float)


class InjectedStoreFault(grpc.RpcError):
    """A fault injection (a stand-in, named as such): what the sync Dapr client raises
    when its sidecar or Redis fails a read, a gRPC error with a code and details."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "injected: sidecar unreachable"


class ScriptedStore:
    """``store.state()`` for the test: each read takes the next item, a run record's value
    or an :class:`InjectedStoreFault` to raise."""

    def __init__(self, script: list) -> None:
        self.script = script

    def get(self, key: str):
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item, "etag"


class Page:
    """The SSE request, connected for ``polls`` polls."""

    def __init__(self, polls: int) -> None:
        self.polls = polls

    async def is_disconnected(self) -> bool:
        self.polls -= 1
        return self.polls < 0


def _run_value(status: str, minute: int) -> dict:
    at = datetime(2026, 12, 1, 9, minute, tzinfo=UTC)
    return RunRecord(
        order_id="o-1",
        user_id="u-1",
        request=OrderRequest(
            order_id="o-1", user_id="u-1", request="snacks for 4", headcount=4, budget_usd=20
        ),
        status=status,
        started_at=at,
        updated_at=at,
    ).model_dump(mode="json")


def test_an_order_pages_live_stream_outlives_a_store_fault(monkeypatch):
    """The signature read fails with a raw gRPC fault (injected) between two changes of
    the run: the stream keeps the page as it is, goes on, and still sends the change."""
    import asyncio

    from workflow_host import store
    from workflow_host.console import routes, views

    fault = InjectedStoreFault()
    script = [_run_value("awaiting_approval", 0), fault, fault, _run_value("completed", 1)]
    monkeypatch.setattr(store, "state", lambda: ScriptedStore(script))
    monkeypatch.setattr(routes, "LIVE_EVERY_S", 0)

    async def events() -> list[dict]:
        stream = routes._changes(Page(polls=4), lambda: views.order_signature("o-1"))
        return [event async for event in stream]

    sent = asyncio.run(events())
    assert script == []  # all four reads happened, the two faulty ones included
    assert [e["event"] for e in sent] == ["changed", "changed"]
    assert sent[0]["data"] != sent[1]["data"]


def test_a_store_fault_reading_a_run_or_the_index_is_a_domain_error(monkeypatch):
    from snacktopus_core.errors import StateUnavailable
    from workflow_host import approvals, store

    monkeypatch.setattr(store, "state", lambda: ScriptedStore([InjectedStoreFault()]))
    with pytest.raises(StateUnavailable, match="run record of o-1 unreadable: injected"):
        approvals.load_run("o-1")

    class FaultyIndex:
        def get_many(self, keys):
            raise InjectedStoreFault()

    monkeypatch.setattr(store, "state", lambda: FaultyIndex())
    with pytest.raises(StateUnavailable, match="runs index unreadable"):
        store.index()


def _answer_html(answer: dict) -> str:
    from workflow_host.console.routes import templates

    return templates.get_template("_answer.html").render(
        answer=answer, question="snacks", csrf="t", prefix="/console"
    )


BASKET = {
    "lines": [
        {
            "sku": "FRU-1",
            "name": "Fruit cups (6)",
            "quantity": 2,
            "unit_price_usd": 3.0,
            "line_total_usd": 6.0,
            "servings": 12,
            "allergens": [],
        }
    ],
    "total_usd": 6.0,
    "servings": 12,
}


def test_a_streamed_answer_shows_its_basket_while_the_explanation_is_written():
    first = _answer_html({"basket": BASKET, "safety": {"verdict": "ok", "flags": []}})
    assert 'id="proposed-basket"' in first and "Fruit cups (6)" in first
    assert 'id="explanation-pending"' in first and 'id="answer-text"' not in first
    assert 'id="place-form"' in first  # the order can be placed from the basket alone
    done = _answer_html(
        {
            "basket": BASKET,
            "safety": {"verdict": "ok", "flags": []},
            "answer": "For 6 people: 2x Fruit cups.",
            "explanation": "Fruit cups feed all 6.",
        }
    )
    assert 'id="answer-text"' in done and 'id="explanation"' in done
    assert 'id="explanation-pending"' not in done


def _dapr_unreachable(order_id: str):
    """An injected fault: Dapr's view of the workflow cannot be read (the page then shows
    the run record alone, as it does in production when the sidecar blinks)."""
    from snacktopus_core.errors import StateUnavailable

    raise StateUnavailable(f"injected: the workflow of {order_id} unreadable")


def test_an_order_page_never_carries_a_version_newer_than_it_shows(monkeypatch):
    """The run changes (a vote lands) while the page is served: each store read returns
    the next state. The page's version must be that of the record it shows, so the live
    stream's first event (the newest) makes the page fetch again; a version read apart
    from the content could be the newer one, and the page would stay stale for good."""
    import asyncio
    import re

    from starlette.requests import Request
    from workflow_host import approvals, store
    from workflow_host.console import routes, views

    script = [_run_value("awaiting_approval", 0), *[_run_value("completed", 1)] * 3]
    monkeypatch.setattr(store, "state", lambda: ScriptedStore(script))
    monkeypatch.setattr(approvals, "workflow_status", _dapr_unreachable)  # fault injected
    monkeypatch.setattr(routes, "LIVE_EVERY_S", 0)
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    request = Request(scope)
    sess = sessions.Session(sid="abc", approver="alice", fp="f" * 64)

    html = routes.order(request, "o-1", sess).body.decode()
    version = re.search(r'data-version="([0-9a-f]+)"', html).group(1)

    async def first_event() -> dict:
        stream = routes._changes(Page(polls=1), lambda: views.order_signature("o-1"))
        async for event in stream:
            return event
        raise AssertionError("the stream sent nothing")

    newest = asyncio.run(first_event())["data"]
    live = html.split('id="order"', 1)[1]
    assert "awaiting" in live.lower() and "completed" not in live.lower()  # the first read
    assert version != newest, "the page shows the old run under the newest version"
