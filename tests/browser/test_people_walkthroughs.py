"""Issue 12's walk-throughs in headless Chromium: a patient on a phone in Chinese, a clinician on
a desktop in English (and the reverse for the screenshots of docs/screenshots/).

The patient's screening is analysed by the real Celery worker (``task_runner``); SMS and e-mail
go to the test backends (``notifications.sms.LocmemSmsBackend``, Django's locmem e-mail)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from tests.browser.browsing import DESKTOP, PHONE, SCREENSHOTS, new_page, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def test_backends(settings):
    from notifications import sms

    settings.SMS_BACKEND = "notifications.sms.LocmemSmsBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TRIAGE_POLL_SECONDS = 1
    settings.STATUS_POLL_SECONDS = 1
    sms.outbox.clear()
    mail.outbox = []
    yield sms.outbox
    sms.outbox.clear()


def _link_in(text: str) -> str:
    return re.search(r"https?://\S+/s/[0-9a-f-]{36}/[A-Za-z0-9_-]+/", text).group(0)


def test_a_patient_fixes_a_refused_submission_without_choosing_the_file_twice_recovers_the_link_and_gets_the_decision(  # noqa: E501
    chromium,
    live_server,
    task_runner,
    regions,
    clinician_north,
    sample_bytes,
    tmp_path,
    test_backends,
):
    from screening.models import Screening

    outbox = test_backends
    image = tmp_path / "my-chest-xray.jpg"
    image.write_bytes(sample_bytes["covid"])
    page = new_page(chromium, language="zh-hans", viewport=PHONE)
    page.goto(live_server.url + "/")
    # On a phone the emergency advice comes before the long form.
    advice = page.locator("#emergency-advice").bounding_box()
    assert advice["y"] < page.locator("#submit-form").bounding_box()["y"]
    assert advice["y"] < PHONE["height"]

    page.select_option("#id_region", "NORTH-01")
    page.fill("#id_national_id", "AB1")  # too short: refused by the server
    page.fill("#id_full_name", "Wanjiru Kamau")
    page.fill("#id_date_of_birth", "1961-07-04")
    page.fill("#id_phone", "+254 712 345678")
    page.check("#id_sex_0")
    page.set_input_files("#id_image", str(image))
    page.check("#id_consent")
    page.locator("#submit-button").click()

    expect(page.locator("#form-errors")).to_be_focused()  # set by the page's script once loaded
    summary_link = page.locator("#form-errors a").first
    assert summary_link.get_attribute("href") == "#id_national_id"
    kept = page.locator("#kept-image")
    assert "my-chest-xray.jpg" in kept.inner_text()  # "your image ... is kept", in Chinese
    assert "已保留" in kept.inner_text()
    assert page.input_value("#id_full_name") == "Wanjiru Kamau"  # what was typed is still there
    page.screenshot(path=str(SCREENSHOTS / "patient-kept-image-zh-phone.png"), full_page=True)
    summary_link.click()
    expect(page.locator("#id_national_id")).to_be_focused()
    page.fill("#id_national_id", "ZX-987-6543")  # dashes as printed on the card
    page.check("#id_consent")
    page.locator("#submit-button").click()  # no file chosen this time
    page.wait_for_url(re.compile(r"/s/[0-9a-f-]{36}/(#.*)?$"))
    screening = Screening.objects.get(full_name="Wanjiru Kamau")
    assert Screening.objects.count() == 1
    link = page.input_value("#status-link")
    assert re.fullmatch(rf"{re.escape(live_server.url)}/s/{screening.pk}/[A-Za-z0-9_-]+/", link)
    # Local time with its zone (the browser's: Africa/Nairobi, see browsing.new_page).
    assert "GMT+3" in page.locator("#submitted-at").inner_text()
    page.locator("#copy-link").click()
    # The clipboard answers asynchronously: wait for the confirmation, do not read it at once.
    expect(page.locator("#copy-status")).to_have_text("链接已复制")

    # Ask for the link and the decision by SMS and e-mail, with consent.
    page.check("#id_notify-sms")
    page.fill("#id_notify-email", "wanjiru@example.org")
    page.check("#id_notify-consent")
    page.locator("#notify-form button").click()
    page.wait_for_selector("#notify-done")
    assert [m.to for m in outbox] == [screening.phone]
    assert link in outbox[0].body and "胸部X光筛查" in outbox[0].body
    assert len(mail.outbox) == 1 and link in mail.outbox[0].body

    # The link is lost: recover it with reference, date of birth and national ID.
    stranger = new_page(chromium, language="zh-hans", viewport=PHONE)
    stranger.goto(live_server.url + "/find-my-result/")
    stranger.fill("#id_reference", screening.reference.lower())
    stranger.fill("#id_date_of_birth", "1961-07-04")
    stranger.fill("#id_national_id", "ZX 9876543")
    stranger.locator("#recover-form button").click()
    stranger.wait_for_selector("#recover-done")
    same_answer = stranger.locator("#recover-done").inner_text()
    new_link = _link_in(outbox[-1].body)
    assert new_link != link and len(outbox) == 2
    stranger.goto(live_server.url + "/find-my-result/")
    stranger.fill("#id_reference", screening.reference)
    stranger.fill("#id_date_of_birth", "1961-07-05")  # wrong: nothing sent, the same answer
    stranger.fill("#id_national_id", "ZX9876543")
    stranger.locator("#recover-form button").click()
    stranger.wait_for_selector("#recover-done")
    assert stranger.locator("#recover-done").inner_text() == same_answer
    assert len(outbox) == 2
    assert stranger.goto(link).status == 404  # the old link no longer works
    stranger.goto(new_link)
    expect_title = stranger.locator("#status-title")

    # The worker analyses it; a clinician decides; the decision arrives by SMS and e-mail.
    task_runner.wait_for_status(screening.pk)
    expect_title.wait_for()
    clinic = new_page(chromium, language="en", viewport=DESKTOP)
    sign_in(clinic, live_server.url, clinician_north)
    clinic.goto(f"{live_server.url}/clinic/screenings/{screening.pk}/")
    clinic.get_by_label("Image unusable - ask for a new upload").check()
    clinic.locator("#record-decision").click()
    clinic.wait_for_selector(".messages")
    stranger.wait_for_selector("#status-card[data-decision=unusable]", timeout=30_000)
    assert stranger.locator("#resubmit").is_visible()  # live update shows the button
    assert not stranger.locator("#live-note").is_visible()  # "updates by itself" is gone
    decision_sms = [m for m in outbox if "影像无法使用" in m.body]
    assert len(decision_sms) == 1 and decision_sms[0].to == screening.phone
    assert any("影像无法使用" in m.body for m in mail.outbox)
    stranger.screenshot(path=str(SCREENSHOTS / "patient-decision-zh-phone.png"), full_page=True)


CLINICIAN_TEXT = {
    "en": {"new": "2 new results", "recorded": "Decision recorded for {}", "back": "← Back to {}"},
    "zh-hans": {"new": "2 个新结果", "recorded": "已记录 {} 的结论", "back": "← 返回 {}"},
}


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_clinician_finds_a_patient_and_clears_five_screenings_with_the_keyboard_while_new_results_arrive(  # noqa: E501
    chromium, live_server, regions, clinician_north, make_scored, test_backends, language
):
    text = CLINICIAN_TEXT[language]
    from screening.models import Review

    scored = [make_scored(prob_covid=p) for p in (0.95, 0.9, 0.8, 0.6, 0.4, 0.2)]
    make_scored(prob_covid=0.99, region="SOUTH-01")  # not the clinician's region
    page = new_page(chromium, language=language, viewport=DESKTOP)
    sign_in(page, live_server.url, clinician_north)

    # Search by reference (typed without dashes, in lower case).
    page.keyboard.press("/")
    page.wait_for_url("**/clinic/search/")
    page.fill("#q", scored[3].reference.replace("-", "").lower())
    page.keyboard.press("Enter")
    page.wait_for_selector("#search-results")
    assert page.locator("#search-results tbody tr").count() == 1
    assert page.locator("#search-results").inner_text().count(scored[3].reference) == 1

    page.goto(live_server.url + "/clinic/")
    rows = page.locator("#triage-table tbody tr")
    before = [rows.nth(i).bounding_box()["y"] for i in range(rows.count())]
    make_scored(prob_covid=0.99)  # two new results arrive, one above everything
    make_scored(prob_covid=0.5)
    page.wait_for_selector("#new-results:not(.hidden)", timeout=15_000)
    assert page.locator("#new-results-text").inner_text() == text["new"]
    after = [rows.nth(i).bounding_box()["y"] for i in range(rows.count())]
    assert after == before  # nothing moved under the pointer
    page.screenshot(path=str(SCREENSHOTS / f"clinician-new-results-{language}-desktop.png"))

    page.keyboard.press("r")  # show them
    page.wait_for_function(
        "() => document.getElementById('new-results').classList.contains('hidden')"
    )
    page.keyboard.press("u")  # the first unreviewed
    cleared = []
    for _ in range(5):
        page.wait_for_selector("#review-form")
        button = page.locator("#record-decision").bounding_box()
        assert button["y"] + button["height"] <= DESKTOP["height"]  # decision form in view
        cleared.append(page.locator("h1").inner_text())
        page.keyboard.press("2")  # "No finding"
        page.keyboard.press("Control+Enter")
        page.wait_for_selector(".messages")
        assert text["recorded"].format(cleared[-1]) in page.locator(".messages").inner_text()
    assert Review.objects.filter(screening__reference__in=cleared).count() == 5
    assert (
        page.locator("#back-to-previous").inner_text().startswith(text["back"].format(cleared[-1]))
    )
