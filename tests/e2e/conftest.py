"""The console in a real browser: Debian's headless Chromium driven by Selenium through
Debian's chromedriver (``make browser``), against the real local stack the integration
tests use (the same session fixture: a running test-profile stack is reused).

Selenium is given both paths, so it never looks for or downloads a browser of its own.
Screenshots go to ``tests/e2e/artifacts/<run>/`` (ignored by git); the session's summary
says where.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

# The integration tests' stack fixtures, reused as they are (one stack per session).
from tests.integration.conftest import (  # noqa: F401
    _no_order_left_waiting,
    http,
    stack,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).parent / "artifacts" / time.strftime("%Y%m%d-%H%M%S")
_saved: list[Path] = []


def _options() -> webdriver.ChromeOptions:
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",  # tests run as root on the CI machine
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
    ):
        opts.add_argument(arg)
    return opts


@pytest.fixture(scope="session")
def new_browser() -> Iterator[Callable[[], WebDriver]]:
    """Makes browsers (one per person in a test); all are closed at the end."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run `make browser` (Debian's chromium)")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager, if ever asked, must not download
    made: list[WebDriver] = []

    def make() -> WebDriver:
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=_options())
        driver.set_page_load_timeout(180)  # /ask waits on the model on a busy 2-core machine
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.quit()


@pytest.fixture
def browser(new_browser: Callable[[], WebDriver]) -> Iterator[WebDriver]:
    driver = new_browser()
    yield driver
    driver.delete_all_cookies()


@pytest.fixture
def shot() -> Callable[[WebDriver, str], Path]:
    def save(driver: WebDriver, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1280, min(max(int(height) + 40, 600), 4000))
        driver.save_screenshot(str(path))
        driver.set_window_size(1280, 1000)
        _saved.append(path)
        return path

    return save


def pytest_terminal_summary(terminalreporter) -> None:
    if _saved:
        terminalreporter.write_line(f"browser screenshots ({len(_saved)}): {ARTIFACTS}")
