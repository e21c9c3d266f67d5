"""Pages a person opens that must work offline and for everyone: both apps' ``/docs``
render Swagger UI from assets the app serves (no CDN), and the console's pages pass
axe-core with no serious or critical violation."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from selenium.webdriver.common.by import By

from tests.e2e.test_console import console, sign_in
from tests.integration.conftest import StackInfo, new_id, start_order, wait_run
from tests.support import BIG_ORDER, axe_violations, wait_for

pytestmark = pytest.mark.integration

SERIOUS = {"serious", "critical"}


@pytest.mark.parametrize("app", ["agent", "workflow"])
def test_docs_render_swagger_ui_from_the_app_itself(
    app: str, browser, stack: StackInfo, shot
) -> None:
    base = stack.url(app)
    browser.get(f"{base}/docs")
    title = wait_for(browser, ".swagger-ui .info .title", timeout=60)
    assert "Snacktopus" in title.text
    assert browser.find_elements(By.CSS_SELECTOR, ".opblock")  # the operations are listed
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    hosts = {urlsplit(u).netloc for u in loaded}
    assert hosts == {urlsplit(base).netloc}, f"/docs loaded from elsewhere: {sorted(hosts)}"
    shot(browser, f"docs-{app}")


def _serious(violations: list[dict]) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v.get("impact") in SERIOUS
    ]


def test_console_pages_have_no_serious_accessibility_violation(
    browser, http: httpx.Client, stack: StackInfo
) -> None:
    order_id = start_order(http, stack, user_id=new_id("u"), **BIG_ORDER)
    wait_run(http, stack, order_id, {"awaiting_approval"})
    found: dict[str, list[dict]] = {}
    browser.get(f"{console(stack)}/login")
    wait_for(browser, "#login-form")
    found["sign-in"] = axe_violations(browser)
    sign_in(browser, stack, "alice")
    wait_for(browser, f'tr[data-order="{order_id}"]')
    found["inbox"] = axe_violations(browser)
    browser.get(f"{console(stack)}/orders/{order_id}")
    wait_for(browser, "#approve")
    found["order"] = axe_violations(browser)
    browser.get(f"{console(stack)}/ask")
    browser.find_element(By.ID, "question").send_keys("vegan snacks for 6 people")
    browser.find_element(By.ID, "ask").click()
    wait_for(browser, "#place-form", timeout=180)  # with the answer, basket and order form
    found["requester"] = axe_violations(browser)
    browser.get(f"{console(stack)}/orders/ord-no-such-order")
    wait_for(browser, "#error-title")
    found["error"] = axe_violations(browser)

    for page, violations in found.items():
        impacts = sorted(f"{v['id']}:{v['impact']}" for v in violations)
        print(f"axe {page}: {len(violations)} violation(s) {impacts}")
    serious = {page: _serious(v) for page, v in found.items() if _serious(v)}
    assert not serious, serious
