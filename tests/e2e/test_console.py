"""The approver console as people use it, in headless Chromium against the real stack:
sign in, watch an order arrive, open it, decide it, see it end; and what must be refused."""

from __future__ import annotations

import time

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from selenium.webdriver.common.by import By
from workflow_host.console.session import COOKIE, SALT

from tests.integration.conftest import (
    StackInfo,
    decide,
    new_id,
    run_record,
    start_order,
    wait_run,
)
from tests.support import (
    BIG_ORDER,
    HUGE_ORDER,
    console_sign_in,
    wait_for,
    wait_text,
)

pytestmark = pytest.mark.integration


def console(stack: StackInfo) -> str:
    return f"{stack.url('workflow')}/console"


def token(stack: StackInfo, approver: str) -> str:
    value = stack.settings.approver_token(approver)
    assert value, f"the local stack issued no token for '{approver}'"
    return value


def sign_in(driver, stack: StackInfo, approver: str) -> None:
    console_sign_in(driver, console(stack), approver, token(stack, approver))
    wait_text(driver, "#signed-in-as", approver)


def post_decision(driver, order_id: str, decision: str) -> dict:
    """What a stale tab (or a forged page) sends: the decision form, posted by the browser
    with its cookies and the page's CSRF token (if it has one)."""
    return driver.execute_async_script(
        """
        const [orderId, decision, done] = arguments;
        const csrf = document.querySelector('input[name=csrf_token]');
        const body = new URLSearchParams({decision, comment: 'stale tab',
                                          csrf_token: csrf ? csrf.value : 'none'});
        fetch(`/console/orders/${orderId}/decision`, {method: 'POST', body, redirect: 'manual'})
          .then(async r => done({status: r.status, text: await r.text()}));
        """,
        order_id,
        decision,
    )


def test_sign_in_watch_an_order_arrive_approve_it_and_see_it_complete(
    browser, http: httpx.Client, stack: StackInfo, shot
) -> None:
    sign_in(browser, stack, "alice")
    wait_for(browser, "#waiting-h")
    browser.execute_script("window.__stayed = true")  # gone if the page reloads

    order_id = start_order(http, stack, user_id=new_id("u"), **BIG_ORDER)
    row = wait_for(browser, f'tr[data-order="{order_id}"]')
    assert browser.execute_script("return window.__stayed === true"), "the inbox reloaded"
    assert "left" in row.text or "due now" in row.text  # time left is shown
    assert "0 of 1 approval" in row.text
    shot(browser, "inbox-order-arrived")

    row.find_element(By.LINK_TEXT, order_id).click()
    wait_text(browser, "#order-status", "awaiting approval")
    run = run_record(http, stack, order_id)
    assert browser.find_element(By.ID, "asked-by").text == run["user_id"]
    lines = browser.find_elements(By.CSS_SELECTOR, "#basket tbody tr")
    assert len(lines) == len(run["basket"]["lines"]) > 0
    assert f"${run['total_usd']:,.2f}" in browser.find_element(By.ID, "budget").text
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline li")
    trace = browser.find_element(By.ID, "trace-link").get_attribute("href")
    assert run["trace_id"] and trace.endswith(f"/zipkin/traces/{run['trace_id']}")
    shot(browser, "order-awaiting-approval")

    browser.find_element(By.ID, "comment").send_keys("fine for the offsite")
    browser.find_element(By.ID, "approve").click()
    wait_for(browser, "#decided-notice")
    wait_text(browser, "#order-status", "completed")  # followed live, no reload asked
    shot(browser, "order-completed")

    run = run_record(http, stack, order_id)
    assert run["status"] == "completed"
    assert run["approval"]["decision"] == "approve"
    assert run["approval"]["approver"] == "alice"
    assert run["approval"]["comment"] == "fine for the offsite"
    assert run["approval"]["decided_at"]
    assert "alice" in browser.find_element(By.ID, "approvals").text


def test_a_reject_compensates(browser, http: httpx.Client, stack: StackInfo, shot) -> None:
    order_id = start_order(http, stack, user_id=new_id("u"), **BIG_ORDER)
    wait_run(http, stack, order_id, {"awaiting_approval"})
    sign_in(browser, stack, "bob")
    browser.get(f"{console(stack)}/orders/{order_id}")
    browser.find_element(By.ID, "comment").send_keys("too much sugar")
    browser.find_element(By.ID, "reject").click()
    wait_text(browser, "#order-status", "rejected")
    wait_for(browser, "#compensations")
    shot(browser, "order-rejected-compensated")

    run = run_record(http, stack, order_id)
    assert run["approval"]["decision"] == "reject"
    assert run["approval"]["approver"] == "bob"
    assert set(run["compensations"]) >= {"release_inventory", "release_quote"}
    text = browser.find_element(By.ID, "compensations").text
    assert all(step in text for step in run["compensations"])


def test_two_approvers_at_once_decide_once(
    new_browser, http: httpx.Client, stack: StackInfo, shot
) -> None:
    order_id = start_order(http, stack, user_id=new_id("u"), **BIG_ORDER)
    wait_run(http, stack, order_id, {"awaiting_approval"})
    alice, carol = new_browser(), new_browser()
    for driver, name in ((alice, "alice"), (carol, "carol")):
        sign_in(driver, stack, name)
        driver.get(f"{console(stack)}/orders/{order_id}")
        wait_for(driver, "#approve")

    alice.find_element(By.ID, "approve").click()
    wait_for(alice, "#decided-notice")
    second = post_decision(carol, order_id, "reject")  # carol's page, still open
    assert second["status"] == 409, second
    assert "approve by alice" in second["text"]  # who decided, whatever phase it is in
    wait_text(carol, "#order-status", "completed")  # carol's page follows the outcome
    assert not carol.find_elements(By.ID, "approve")
    shot(carol, "order-decided-by-someone-else")
    run = wait_run(http, stack, order_id)
    assert (run["status"], run["approval"]["approver"]) == ("completed", "alice")


def test_above_the_dual_threshold_a_second_approver_is_needed(
    new_browser, http: httpx.Client, stack: StackInfo, shot
) -> None:
    """Four eyes (DUAL_APPROVAL_USD, $60 in the test profile): alice's approval leaves the
    order waiting, "1 of 2", with no second vote for her; carol's completes it."""
    order_id = start_order(http, stack, user_id=new_id("u"), **HUGE_ORDER)
    run = wait_run(http, stack, order_id, {"awaiting_approval"})
    assert run["approval"]["required_approvals"] == 2
    alice, carol = new_browser(), new_browser()
    for driver, name in ((alice, "alice"), (carol, "carol")):
        sign_in(driver, stack, name)
        driver.get(f"{console(stack)}/orders/{order_id}")
        wait_text(driver, "#approval-summary", "0 of 2 approvals")

    alice.find_element(By.ID, "approve").click()
    wait_for(alice, "#decided-notice")
    wait_text(alice, "#approval-summary", "1 of 2 approvals")
    assert "waits for another approver" in wait_for(alice, "#no-decision").text
    assert not alice.find_elements(By.ID, "approve")
    wait_text(carol, "#approval-summary", "1 of 2 approvals")  # carol's page, live
    assert "alice" in carol.find_element(By.ID, "approvals").text
    assert wait_run(http, stack, order_id, {"awaiting_approval"})["status"] == ("awaiting_approval")
    shot(carol, "order-one-of-two-approvals")

    carol.find_element(By.ID, "approve").click()
    wait_text(carol, "#order-status", "completed")
    run = wait_run(http, stack, order_id)
    assert run["status"] == "completed"
    assert [(v["approver"], v["decision"]) for v in run["approval"]["votes"]] == [
        ("alice", "approve"),
        ("carol", "approve"),
    ]


def test_a_decision_made_elsewhere_updates_the_inbox(
    browser, http: httpx.Client, stack: StackInfo
) -> None:
    order_id = start_order(http, stack, user_id=new_id("u"), **BIG_ORDER)
    wait_run(http, stack, order_id, {"awaiting_approval"})
    sign_in(browser, stack, "dave")
    wait_for(browser, f'tr[data-order="{order_id}"]')
    r = decide(http, stack, order_id, "erin", "reject", "from the API")
    assert r.status_code == 202, r.text
    wait_for(browser, f'#recent li[data-order="{order_id}"][data-status="rejected"]')
    assert not browser.find_elements(By.CSS_SELECTOR, f'tr[data-order="{order_id}"]')


def test_a_wrong_token_is_refused(browser, stack: StackInfo, shot) -> None:
    console_sign_in(browser, console(stack), "bob", token(stack, "alice"))
    error = wait_for(browser, "#login-error")
    assert "does not belong to approver 'bob'" in error.text
    shot(browser, "sign-in-refused")
    browser.get(f"{console(stack)}/inbox")
    wait_for(browser, "#login-form")  # still signed out: sent back to sign in
    assert not browser.find_elements(By.ID, "signed-in-as")


def _cookie(stack: StackInfo, payload: dict, age_s: float = 0) -> str:
    """A session cookie signed with the stack's real key, issued ``age_s`` ago."""

    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - age_s)

    key = stack.settings.local_secrets()["console-session-key"]
    return URLSafeTimedSerializer(key, salt=SALT, signer=Then).dumps(payload)


@pytest.mark.parametrize(
    ("case", "status", "says"),
    [
        ("forged", 401, "not valid"),
        ("expired", 401, "expired"),
        ("another approver's", 403, "token changed"),
    ],
)
def test_a_bad_session_is_refused_and_the_order_untouched(
    case: str, status: int, says: str, browser, http: httpx.Client, stack: StackInfo
) -> None:
    order_id = start_order(http, stack, user_id=new_id("u"), **BIG_ORDER)
    wait_run(http, stack, order_id, {"awaiting_approval"})
    alice = {"sid": "s1", "approver": "alice", "fp": "0" * 64}
    value = {
        "forged": _cookie(stack, alice)[:-4] + "AAAA",  # alice's claim, signature broken
        "expired": _cookie(stack, alice, age_s=9 * 3600),  # past CONSOLE_SESSION_TTL_S
        # Signed by the key, but not carrying alice's token: a session made for someone
        # else, or from before her token was rotated.
        "another approver's": _cookie(stack, alice),
    }[case]
    browser.get(f"{console(stack)}/login")
    browser.add_cookie({"name": COOKIE, "value": value, "path": "/console"})
    browser.get(f"{console(stack)}/orders/{order_id}")
    assert says in wait_for(browser, "#error-detail").text
    # A 401 page drops the cookie; the decision is sent with the bad session all the same.
    browser.add_cookie({"name": COOKIE, "value": value, "path": "/console"})
    assert post_decision(browser, order_id, "approve")["status"] == status
    run = run_record(http, stack, order_id)
    assert run["status"] == "awaiting_approval" and run["approval"]["decision"] is None


def test_an_approver_cannot_decide_their_own_order(
    browser, http: httpx.Client, stack: StackInfo
) -> None:
    order_id = start_order(http, stack, user_id="frank", **BIG_ORDER)
    wait_run(http, stack, order_id, {"awaiting_approval"})
    sign_in(browser, stack, "frank")
    browser.get(f"{console(stack)}/orders/{order_id}")
    assert "you asked for this order" in wait_for(browser, "#no-decision").text.lower()
    assert not browser.find_elements(By.ID, "approve")
    refused = post_decision(browser, order_id, "approve")
    assert refused["status"] == 403, refused
    assert run_record(http, stack, order_id)["status"] == "awaiting_approval"


def test_an_unknown_order_is_a_404_page(browser, stack: StackInfo, shot) -> None:
    sign_in(browser, stack, "alice")
    browser.get(f"{console(stack)}/orders/ord-no-such-order")
    assert wait_for(browser, "#error-title").text == "Unknown order"
    assert "no order ord-no-such-order" in browser.find_element(By.ID, "error-detail").text
    assert "Traceback" not in browser.page_source


# Records each state the answer area passes through: (stage, basket shown, answer text shown).
WATCH_ANSWER = """
window.answerSeen = [];
const area = document.getElementById('ask-result');
new MutationObserver(() => {
  const shown = (id) => Boolean(document.getElementById(id));
  const now = [area.dataset.stage || '', shown('proposed-basket'), shown('answer-text')];
  const last = window.answerSeen[window.answerSeen.length - 1];
  if (!last || last.join() !== now.join()) window.answerSeen.push(now);
}).observe(area, {childList: true, subtree: true, attributes: true});
"""


def test_a_requester_asks_places_and_follows_an_order(
    browser, http: httpx.Client, stack: StackInfo, shot
) -> None:
    sign_in(browser, stack, "gina")
    browser.find_element(By.LINK_TEXT, "Ask the concierge").click()
    browser.find_element(By.ID, "question").send_keys("gluten-free snacks for 4 people")
    browser.execute_script(WATCH_ANSWER)
    browser.find_element(By.ID, "ask").click()
    wait_for(browser, "#answer-text", timeout=180)
    assert browser.find_elements(By.CSS_SELECTOR, "#proposed-basket tbody tr")
    # Streamed: the basket was on the page, its explanation still being written, before
    # the answer's text arrived (the page's own state, as it changed).
    seen = browser.execute_script("return window.answerSeen")
    stages = [stage for stage, _, _ in seen]
    assert stages.index("basket") < stages.index("done"), seen
    assert any(stage == "basket" and basket and not text for stage, basket, text in seen), seen
    shot(browser, "requester-answer")

    budget = browser.find_element(By.ID, "budget_usd")
    budget.clear()
    budget.send_keys("20")
    browser.find_element(By.ID, "headcount").send_keys("4")
    browser.find_element(By.ID, "place").click()
    order_id = wait_for(browser, "#order-id").text
    wait_text(browser, "#order-status", "completed")  # under the threshold: no human
    assert browser.find_element(By.ID, "asked-by").text == "gina"
    run = run_record(http, stack, order_id)
    assert (run["user_id"], run["status"]) == ("gina", "completed")
    assert run["request"]["request"] == "gluten-free snacks for 4 people"
    shot(browser, "requester-order-completed")
