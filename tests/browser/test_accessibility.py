"""axe-core (vendored from npm) in headless Chromium over every page, in both languages: no
serious or critical violation. Also the language itself: ``<html lang>``, Accept-Language and
the remembered switcher."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.browsing import DESKTOP, PHONE, axe_serious, new_page, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TOKEN = "patient-token-for-the-accessibility-tests"
LANGUAGES = ["en", "zh-hans"]


@pytest.fixture
def screenings(regions, make_scored, clinician_north, screening_factory):
    from screening.models import access_token_hash

    waiting = make_scored(prob_covid=0.91, access_token_hash=access_token_hash(TOKEN))
    decided = make_scored(
        prob_covid=0.2,
        decision="unusable",
        reviewer=clinician_north,
        access_token_hash=access_token_hash(TOKEN + "-2"),
        quality_flags=["too dark"],
    )
    failed = screening_factory(
        status="failed",
        status_reason="The image could not be read.",
        access_token_hash=access_token_hash(TOKEN + "-3"),
    )
    return {"waiting": waiting, "decided": decided, "failed": failed}


def _check(page, what: str) -> None:
    found = axe_serious(page)
    assert not found, f"{what}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}" for v in found
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_patient_page_has_a_serious_accessibility_violation(
    chromium, live_server, screenings, language
):
    page = new_page(chromium, language=language, axe=True)
    base = live_server.url
    expected_lang = "zh-hans" if language == "zh-hans" else "en"

    page.goto(base + "/")
    assert page.locator("html").get_attribute("lang") == expected_lang  # from Accept-Language
    _check(page, "submit form")
    page.locator("#submit-button").click()  # empty: every field refused
    # The summary takes focus from the page's script once loaded: wait for it, do not race it.
    expect(page.locator("#form-errors")).to_be_focused()
    _check(page, "submit form with errors")

    for name, suffix in (("waiting", ""), ("decided", "-2"), ("failed", "-3")):
        page.goto(f"{base}/s/{screenings[name].pk}/{TOKEN}{suffix}/")
        page.wait_for_selector("#status-card")
        _check(page, f"status page ({name})")
    page.locator("#notify-form button").click()  # no consent: the form comes back with errors
    page.wait_for_selector("#notify-form")
    _check(page, "notification form with errors")

    page.goto(base + "/find-my-result/")
    _check(page, "link recovery")
    page.fill("#id_reference", "CXR-0000-0000")
    page.fill("#id_date_of_birth", "1970-01-01")
    page.fill("#id_national_id", "ZZ000000")
    page.locator("#recover-form button").click()
    page.wait_for_selector("#recover-done")
    _check(page, "link recovery answer")

    page.goto(base + "/no/such/page/")
    _check(page, "not found")
    page.set_viewport_size(PHONE)
    page.goto(base + "/")
    _check(page, "submit form on a phone")


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_clinician_page_has_a_serious_accessibility_violation(
    chromium, live_server, screenings, clinician_north, language
):
    page = new_page(chromium, language=language, axe=True)
    base = live_server.url
    page.goto(base + "/accounts/login/")
    _check(page, "sign-in")
    sign_in(page, base, clinician_north)
    _check(page, "triage list")
    page.keyboard.press("?")
    page.wait_for_selector("#shortcuts[open]")
    _check(page, "shortcuts help")
    page.keyboard.press("Escape")

    page.goto(f"{base}/clinic/screenings/{screenings['waiting'].pk}/")
    _check(page, "detail")
    page.goto(f"{base}/clinic/screenings/{screenings['decided'].pk}/")
    _check(page, "detail, decided")
    page.goto(base + "/clinic/search/?q=" + screenings["waiting"].reference)
    _check(page, "search results")
    page.set_viewport_size(PHONE)
    page.goto(base + "/clinic/")
    _check(page, "triage list on a phone")
    page.set_viewport_size(DESKTOP)


def test_the_language_switcher_is_on_every_page_and_remembered(chromium, live_server, regions):
    page = new_page(chromium, language="en")
    page.goto(live_server.url + "/")
    assert page.locator("h1").first.inner_text() == "Submit a chest X-ray"
    page.locator("#lang-zh-hans").click()
    page.wait_for_selector("html[lang=zh-hans]")
    assert page.locator("h1").first.inner_text() == "提交胸部X光片"
    page.goto(live_server.url + "/find-my-result/")  # another page: the choice is remembered
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.get_by_role("heading", name="查找我的结果").is_visible()
    page.goto(live_server.url + "/accounts/login/")
    page.locator("#lang-en").click()
    page.wait_for_selector("html[lang=en]")
    assert re.search("Clinician sign-in", page.locator("h1").inner_text())
