"""Helpers of the browser tests: Chromium, both languages, both widths, axe-core."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = REPO_ROOT / "static" / "vendor" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# Browser locales: Chromium sends them as Accept-Language, which the portal must honour.
LOCALES = {"en": "en-GB", "zh-hans": "zh-CN"}
# `UPDATE_SCREENSHOTS=1 pytest tests/browser` refreshes the README's docs/screenshots/.
SCREENSHOTS = (
    REPO_ROOT / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS")
    else REPO_ROOT / "var" / "screenshots"
)


def new_page(browser, *, language: str = "en", viewport=DESKTOP, axe: bool = False):
    """A page in its own context; ``axe`` lets the test inject axe-core despite the CSP."""
    context = browser.new_context(
        viewport=viewport, locale=LOCALES[language], bypass_csp=axe, timezone_id="Africa/Nairobi"
    )
    context.set_default_timeout(15_000)
    return context.new_page()


def axe_serious(page) -> list[dict]:
    """Serious and critical axe-core (WCAG 2.1 A/AA) violations of the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        """async () => {
          const r = await axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
            resultTypes: ['violations'],
          });
          return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
        }"""
    )
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def sign_in(page, base_url: str, user, password: str = "correct-horse-battery-staple") -> None:
    page.goto(base_url + "/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url("**/clinic/**")
