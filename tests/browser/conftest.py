"""Real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright against a live server.

Every test fails on a JavaScript error in the console and on any request that leaves the
machine: all requests are intercepted and only 127.0.0.1/localhost are let through."""

from __future__ import annotations

import os
import shutil
from urllib.parse import urlparse

import pytest

from tests.pages.conftest import PASSWORD, users, world  # noqa: F401  (fixtures)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL = {"127.0.0.1", "localhost"}

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still
# synchronous, so tell Django not to refuse them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM) or shutil.which("chromium") is None:
        # ./copycat.py test installs it; a browser test that cannot run must fail, not vanish.
        pytest.fail("Debian's chromium is not installed: run ./copycat.py test (it installs "
                    "chromium and chromium-driver) or apt-get install chromium chromium-driver")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


class Watch:
    """What went wrong in the browser: console errors, page errors, foreign requests."""

    def __init__(self):
        self.console_errors: list[str] = []
        self.foreign: list[str] = []

    def check(self) -> None:
        assert not self.foreign, f"requests to non-local addresses: {self.foreign}"
        assert not self.console_errors, f"JavaScript errors: {self.console_errors}"


@pytest.fixture
def watched(browser, live_server):
    def make(*, bypass_csp: bool = False):
        context = browser.new_context(base_url=live_server.url, bypass_csp=bypass_csp,
                                      viewport={"width": 1400, "height": 1000})
        watch = Watch()

        def route(route):
            host = urlparse(route.request.url).hostname or ""
            if route.request.url.startswith(("data:", "blob:")) or host in LOCAL:
                route.continue_()
            else:
                watch.foreign.append(route.request.url)
                route.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("console", lambda msg: watch.console_errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: watch.console_errors.append(str(exc)))
        page.set_default_timeout(15_000)
        made.append(context)
        return page, watch

    made: list = []
    yield make
    for context in made:
        context.close()


def sign_in(page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
