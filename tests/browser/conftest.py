"""Fixtures for the browser tests: Debian's chromium, headless, driven by Selenium through Debian's
chromedriver, against the stack scripts/test.sh started (TALLY_URL, TALLY_ADMIN_TOKEN; see
tests/e2e/tally_fixtures.py). Screenshots of the main views go to var/test-screenshots/ (or TALLY_SCREENSHOTS), printed at the start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY / "tests" / "e2e"))

from tally_e2e import Api, env  # noqa: E402

DESKTOP = (1366, 900)
PHONE = (390, 844)


@pytest.fixture(scope="session")
def base_url() -> str:
    return env("TALLY_URL")


@pytest.fixture(scope="session")
def admin_token() -> str:
    return env("TALLY_ADMIN_TOKEN")


@pytest.fixture(scope="session")
def mint_service_token():
    """A new service-role token of the test's own (`tally admin-token`; TALLY_BIN and TALLY_DATABASE come from
    scripts/test.sh), for a test that revokes it."""

    def mint() -> str:
        result = subprocess.run([env("TALLY_BIN"), "admin-token", "--database", env("TALLY_DATABASE")],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.strip()

    return mint


@pytest.fixture
def api(base_url):
    client = Api(base_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = Path(os.environ.get("TALLY_SCREENSHOTS", REPOSITORY / "var" / "test-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    print(f"\nScreenshots of the dashboard: {folder}", file=sys.stderr)
    return folder


def chromium_binary() -> str:
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(candidate):
            return candidate
    raise RuntimeError("chromium is not installed (scripts/test.sh installs Debian's chromium)")


@pytest.fixture
def browser():
    """A fresh headless chromium at desktop size; its console log is kept (goog:loggingPrefs)."""
    options = webdriver.ChromeOptions()
    options.binary_location = chromium_binary()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={DESKTOP[0]},{DESKTOP[1]}", "--lang=en-US", "--force-device-scale-factor=1"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_window_size(*DESKTOP)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()
