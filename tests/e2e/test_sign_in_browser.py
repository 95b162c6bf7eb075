"""The sign-in pages in a real headless Chromium (Debian's chromium + chromium-driver, driven
by Selenium): the fake Coveo's page, the "Sign in as" button, the redirect to the app's callback
and its result page. Checks the rendered text, and that no script ran and no request left
127.0.0.1 (Chrome's performance log of network events)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.emulator.harness import ALICE, LocalStack

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM or not DRIVER:
        pytest.skip("no Chromium here: .ci/run installs Debian's chromium and chromium-driver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="dob-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _requested_hosts(driver: Any) -> set[str]:
    hosts = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if url.startswith(("http:", "https:", "ws:", "wss:")):  # not chrome:// internals
                hosts.add(urlsplit(url).hostname or "")
    return hosts


def test_sign_in_pages_in_a_real_browser(browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def page_text(driver: Any) -> str:
        return str(driver.find_element(By.TAG_NAME, "body").text)

    with LocalStack() as stack:
        url = stack.sign_in_link(ALICE, "eu")
        browser.get_log("performance")  # start from an empty log
        browser.get(url)
        assert "Sign in to Coveo" in browser.title
        assert browser.execute_script("return document.scripts.length") == 0
        button = browser.find_element(By.XPATH, "//button[contains(., 'dave@example.com')]")
        button.click()
        # The click submits a form and follows redirects: wait for the callback's page (an
        # immediate read can land between two documents, where there is no <body>).
        WebDriverWait(browser, 20).until(
            lambda driver: (
                urlsplit(driver.current_url).path == "/coveo/oauth/callback"
                and "Linked as" in page_text(driver)
            )
        )
        body = page_text(browser)
        assert "Linked as dave@example.com (region EU), you can close this tab." in body
        assert urlsplit(browser.current_url).path == "/coveo/oauth/callback"
        assert browser.execute_script("return document.scripts.length") == 0
        assert _requested_hosts(browser) <= {"127.0.0.1"}
        assert not [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
        stack.wait_ephemeral(ALICE, "Linked as dave@example.com (region EU)")
        # A replayed callback in the browser: a refusal page, nothing changed.
        browser.get(browser.current_url)
        WebDriverWait(browser, 20).until(lambda driver: "already used" in page_text(driver))
