"""The ``chromium`` fixture of the browser tests (helpers in tests/browser/browsing.py)."""

from __future__ import annotations

import os

import pytest

from tests.browser.browsing import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS


@pytest.fixture
def chromium(monkeypatch):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (.ci/run installs Debian chromium)")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
            from django.db import connections

            connections.close_all()
