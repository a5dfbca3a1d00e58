"""Browser fixtures: the whole suite as real processes (``browser_suite``), headless Chromium
(Debian's package, driven by Playwright; never a browser download) and a ``journey`` per test.

    def test_something(browser_suite, journey, unique):
        account = browser_suite.create_account(username=unique.username, password=unique.password,
                                               email=unique.email)
        browser_suite.link(account["id"], practice="riverside", patient="rv-1001", display_name="Alex Rivera")
        journey.goto(browser_suite.portal_urls["riverside"], "portal home")
        ...
        code = code_in(body_of(browser_suite.mailbox.latest_email(unique.email, subject="code")))

Screenshots (and axe reports of failures) land in test-artifacts/e2e/<test>/ (e2e-<prefix>/ with
CAREKEY_TEST_DB_PREFIX); process logs in its suite-logs/.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.journey import DESKTOP, Journey
from tests.browser.suite import ROOT, launch

CHROMIUM = os.environ.get("CAREKEY_CHROMIUM", "/usr/bin/chromium")
# runs with their own database prefix (CAREKEY_TEST_DB_PREFIX) keep their own screenshots and logs too
_RUN = os.environ.get("CAREKEY_TEST_DB_PREFIX", "").strip("_")
ARTIFACTS = Path(os.environ.get("CAREKEY_E2E_ARTIFACTS", ROOT / "test-artifacts" / (f"e2e-{_RUN}" if _RUN else "e2e")))
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            # one running suite per test worker: keep the browser tests on one worker (--dist loadgroup)
            item.add_marker(pytest.mark.xdist_group("browser"))


def pytest_terminal_summary(terminalreporter):
    if ARTIFACTS.exists() and any(ARTIFACTS.iterdir()):
        terminalreporter.write_line(f"browser test screenshots and logs: {ARTIFACTS}")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.path.exists(CHROMIUM):
        message = (f"Chromium is not installed at {CHROMIUM}: `apt-get install chromium` "
                   "(make test does it when run as root)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser_suite(backends, worker_id_safe, tmp_path_factory, chromium_path):
    """The whole suite, started once per test session (see tests/browser/suite.py)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        suite = launch(backends, worker_id_safe, tmp_path_factory.mktemp("browser-suite"), ARTIFACTS, stack)
        yield suite


@pytest.fixture(scope="session")
def chromium(chromium_path):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def journey(browser_suite, chromium, request):
    """A fresh browser (no cookies) and the folder for this test's screenshots."""
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    context = chromium.new_context(viewport=DESKTOP, locale="en-US")
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        yield Journey(page, folder)
    finally:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(folder / "zz-last-page.png"), full_page=True)
        context.close()
    browser_suite.check_alive()


@dataclass(frozen=True)
class Unique:
    """Names no other test (or earlier run) uses: per-recipient rate limits and usernames stay apart."""

    token: str

    @property
    def username(self) -> str:
        return f"pat-{self.token}"

    @property
    def email(self) -> str:
        return f"pat-{self.token}@example.org"

    @property
    def phone(self) -> str:
        return "+1555" + str(int(self.token, 16))[-7:].rjust(7, "0")

    @property
    def password(self) -> str:
        return f"maple lantern orbit {self.token[:6]} river"


@pytest.fixture
def unique() -> Unique:
    return Unique(uuid.uuid4().hex[:12])
