"""The dashboard in headless Chromium: charts render, drill-down and the CSV export work."""

from __future__ import annotations

import os

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def page(monkeypatch, live_server, superuser):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (.ci/run installs Debian chromium)")
    from django.conf import settings
    from django.test import Client
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    client = Client()
    client.force_login(superuser)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(accept_downloads=True)
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
        )
        try:
            yield context.new_page()
        finally:
            browser.close()
            from django.db import connections

            connections.close_all()


def test_an_administrator_reads_the_dashboard_drills_into_a_province_and_exports_csv(
    page, live_server, fixture_data, tmp_path
):
    from playwright.sync_api import expect

    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server.url}/dashboard/")
    expect(page.locator("#volume svg.chart")).to_be_visible()
    expect(page.locator("#model-watch svg.chart circle").first).to_be_attached()
    expect(page.locator('tr.watch-region[data-region="SOUTH"] .model-warning')).to_be_visible()
    expect(page.locator('tr.watch-region[data-region="NORTH"] .model-warning')).to_have_count(0)

    page.locator('tr.region-row[data-region="NORTH"] a').click()
    expect(page.locator("h1")).to_contain_text("Northern Province")
    expect(page.locator('tr.region-row[data-region="NORTH-01"] .backlog')).to_have_text("1")
    page.screenshot(path=str(tmp_path / "dashboard-north.png"), full_page=True)

    with page.expect_download() as download:
        page.locator("#export-csv").click()
    path = tmp_path / "export.csv"
    download.value.save_as(path)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("region_code,region_name,month,submitted")
    assert lines[1].startswith("NORTH-01,")
    assert errors == []  # no CSP violation or script error
