"""What the tests share: polling, the order bodies, reading /metrics and checking the API
docs pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families
from snacktopus_core.retry import poll_until

# An order above every test threshold (a human must decide) and one below it.
BIG_ORDER = {"request": "snacks for the team offsite", "budget_usd": 300, "headcount": 60}
SMALL_ORDER = {"request": "gluten-free snacks for 4 people", "budget_usd": 20, "headcount": 4}
# Above the test profile's DUAL_APPROVAL_USD ($60; ~$110): two different approvers decide.
HUGE_ORDER = {"request": "snacks for the team offsite", "budget_usd": 600, "headcount": 150}

# How long an order a test starts waits for a human (its own ``approval_timeout_s``). A test
# that approves, rejects or cancels gets a window no machine misses: the test profile's
# APPROVAL_TIMEOUT_S (6 s) is shorter than a busy 2-core machine may take between seeing
# ``awaiting_approval`` and deciding. A test of the timeout asks for a short one and never
# needs to see the order waiting first.
LONG_APPROVAL_S = 300.0
SHORT_APPROVAL_S = 2.0


def wait_until(fn: Callable[[], Any], timeout: float = 30.0, every: float = 0.2) -> Any:
    """Polls ``fn`` until it returns something truthy; fails the test with the last value."""
    last = poll_until(fn, timeout, every)
    if not last:
        pytest.fail(f"condition not met within {timeout} s (last value: {last!r})")
    return last


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` in a Prometheus text exposition whose labels
    include ``labels`` (0 when there are none).

    Read with prometheus_client's own parser, not by splitting lines: label values may hold
    spaces, braces and escaped quotes, and a line may end in a timestamp. That parser renames
    the samples of a counter exposed without ``_total`` (daprd's, such as
    ``dapr_http_server_request_count``) to ``<name>_total``; such a counter is still found by
    the name it is exposed under."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            renamed = (
                family.type == "counter" and family.name == name and sample.name == f"{name}_total"
            )
            if (sample.name == name or renamed) and labels.items() <= sample.labels.items():
                total += sample.value
    return total


# What a docs page may load, by file suffix, and the content type each must be served with
# (a browser refuses a script or stylesheet served as something else).
_DOCS_CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}


class _References(HTMLParser):
    """The URLs an HTML page makes the browser load: scripts, stylesheets, icons, and
    ReDoc's ``spec-url``."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in {"src", "href", "spec-url"} and v]


def check_docs_served_locally(client: Any) -> dict[str, list[str]]:
    """GETs ``/docs`` and ``/redoc`` through ``client`` (a TestClient, or an httpx.Client
    with the app's base URL), then every asset and OpenAPI document they load, and fails
    unless each is a path on the app itself answered 200 with the right content type: on an
    air-gapped cluster a page that needs any other host is blank. Returns what each page
    loads."""
    loaded: dict[str, list[str]] = {}
    for page in ("/docs", "/redoc"):
        r = client.get(page)
        assert r.status_code == 200, f"{page}: {r.status_code}"
        assert r.headers["content-type"].startswith("text/html"), r.headers["content-type"]
        # No other host anywhere on the page, inline scripts included (fonts, CDN bundles).
        assert "://" not in r.text, f"{page} names another host:\n{r.text}"
        refs = _References()
        refs.feed(r.text)
        # Swagger UI is given its OpenAPI URL in an inline script, not an attribute.
        urls = refs.urls + re.findall(r"\burl: '([^']+)'", r.text)
        assert urls, f"{page} loads nothing: not the page expected\n{r.text}"
        for url in urls:
            parts = urlsplit(url)
            assert not parts.scheme and not parts.netloc and url.startswith("/"), (
                f"{page} loads {url!r} from elsewhere"
            )
            suffix = PurePosixPath(parts.path).suffix
            assert suffix in _DOCS_CONTENT_TYPES, f"{page} loads {url!r}: unexpected kind"
            asset = client.get(url)
            assert asset.status_code == 200, f"{page} loads {url}: {asset.status_code}"
            assert asset.content, f"{page} loads {url}: empty"
            kind = asset.headers["content-type"].split(";")[0].strip()
            assert kind in _DOCS_CONTENT_TYPES[suffix], f"{url} served as {kind}"
        loaded[page] = urls
    return loaded


# ------------------------------------------------------------------ browser (tests/e2e)


def wait_for(driver: Any, css: str, timeout: float = 120) -> Any:
    """The element ``css`` names once it is visible (Selenium's own wait)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, css))
    )


def wait_text(driver: Any, css: str, text: str, timeout: float = 120) -> None:
    """Waits until the element ``css`` names shows ``text``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text)
    )


def console_sign_in(driver: Any, console: str, approver: str, token: str) -> None:
    """Signs in through the console's form, as a person does."""
    from selenium.webdriver.common.by import By

    driver.get(f"{console}/login")
    driver.find_element(By.ID, "approver").send_keys(approver)
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "sign-in").click()


def axe_violations(driver: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page the browser shows (axe.min.js from the
    axe-selenium-python wheel, injected into the page)."""
    from axe_selenium_python import Axe

    axe = Axe(driver)
    axe.inject()
    return axe.run()["violations"]
