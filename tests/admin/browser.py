"""Browser tests that look, not only click: a logged-in headless Chromium (Debian's package,
driven by Playwright) at the two widths an approver uses, and the checks a person would make
by looking: the controls are in view, nothing scrolls sideways, axe-core finds no serious
violation. Every check saves a screenshot under the run's artifacts folder
(``ORMAI_ARTIFACTS``, default ``test-artifacts/``) so a person can open it afterwards.

Use it from a test marked like ``tests/admin/test_browser_approval.py``::

    def test_queue_fits(live_server, admin_browser):
        page = admin_browser.login(live_server, "lee", "approve-me", width=1400)
        page.goto(live_server.url + "/admin/ormai_django/approvalrequest/")
        assert_fits(page, "queue-1400")
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTHS = {"desktop": (1400, 900), "phone": (390, 844)}
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
ARTIFACTS = Path(os.environ.get("ORMAI_ARTIFACTS", "test-artifacts")) / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

browser_marks = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        CHROMIUM is None and os.environ.get("CI") != "true",
        reason="Debian's chromium is not installed (.ci/run installs it)",
    ),
]


class AdminBrowser:
    """One Chromium for a test; ``login`` opens a page of the given width, logged in."""

    def __init__(self, browser):
        self.browser = browser

    def login(self, live_server, username: str, password: str, *, width: int = 1400):
        height = 900 if width >= 1000 else 844
        page = self.browser.new_page(viewport={"width": width, "height": height})
        page.goto(live_server.url + "/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_load_state()
        return page


@pytest.fixture
def admin_browser(monkeypatch):
    """A headless Chromium for the test, closed after it."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the live server's ORM work
    # must not be refused meanwhile.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield AdminBrowser(browser)
        finally:
            browser.close()
            # While Playwright's loop runs, Django keeps the test's ORM work on connections
            # of its own (asgiref's context-local storage); closed here, or one stays open
            # and PostgreSQL refuses to drop the test database at the end of the run.
            connections.close_all()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as ``<artifacts>/screenshots/<name>.png`` and return it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def horizontal_overflow(page) -> dict:
    """The page's widths: sideways scrolling exists when ``scrollWidth > clientWidth``."""
    return page.evaluate(
        """() => ({scrollWidth: document.documentElement.scrollWidth,
                   clientWidth: document.documentElement.clientWidth})"""
    )


def assert_fits(page, name: str) -> None:
    """The page scrolls only downwards; the screenshot is saved either way."""
    screenshot(page, name)
    widths = horizontal_overflow(page)
    assert widths["scrollWidth"] <= widths["clientWidth"], (
        f"{name}: the page scrolls sideways ({widths}); see {ARTIFACTS / name}.png"
    )


def assert_in_viewport(page, selector: str) -> None:
    """Every element matching ``selector`` lies wholly inside the viewport's width, and
    at least one matches."""
    boxes = page.eval_on_selector_all(
        selector,
        """els => els.map(e => { const r = e.getBoundingClientRect();
                 return {left: r.left, right: r.right, width: r.width}; })""",
    )
    assert boxes, f"nothing matches {selector!r}"
    viewport = page.viewport_size["width"]
    for box in boxes:
        assert box["width"] > 0, f"{selector} is not drawn: {box}"
        assert box["left"] >= 0 and box["right"] <= viewport, (
            f"{selector} reaches outside the {viewport}px viewport: {box}"
        )


def serious_axe_violations(page) -> list[dict]:
    """axe-core's violations of impact serious or critical on the current page."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": len(v["nodes"]),
            "where": [node["target"] for node in v["nodes"][:5]],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
