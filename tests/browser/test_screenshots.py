"""The main pages in both languages at phone and desktop width: nothing runs off the side of a
phone (the layout takes the longer and the shorter strings), and screenshots for the README
(``UPDATE_SCREENSHOTS=1`` writes them to docs/screenshots/, else to var/screenshots/)."""

from __future__ import annotations

import io

import pytest

from tests.browser.browsing import DESKTOP, PHONE, SCREENSHOTS, new_page, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TOKEN = "a-token-for-the-screenshots"


def _xray_png() -> bytes:
    from PIL import Image

    from tests.conftest import SAMPLES_DIR

    buffer = io.BytesIO()
    Image.open(SAMPLES_DIR / "covid.jpg").convert("L").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def pages(make_scored, clinician_north):
    from screening import storage
    from screening.models import access_token_hash

    image = storage.store_png(_xray_png())
    waiting = make_scored(
        prob_covid=0.93,
        full_name="Grace Mwangi",
        access_token_hash=access_token_hash(TOKEN),
        image=image,
        image_width=512,
        image_height=512,
        quality_flags=["low contrast"],
    )
    decided = make_scored(
        prob_covid=0.81,
        decision="covid_suspected",
        reviewer=clinician_north,
        access_token_hash=access_token_hash(TOKEN + "-d"),
    )
    for p in (0.74, 0.41, 0.12):
        make_scored(prob_covid=p)
    return {
        "submit": "/",
        "status": f"/s/{waiting.pk}/{TOKEN}/",
        "result": f"/s/{decided.pk}/{TOKEN}-d/",
        "recover": "/find-my-result/",
        "triage": "/clinic/",
        "detail": f"/clinic/screenings/{waiting.pk}/",
    }


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("width", ["phone", "desktop"])
def test_the_main_pages_fit_the_screen_in_both_languages(
    chromium, live_server, pages, clinician_north, language, width
):
    viewport = PHONE if width == "phone" else DESKTOP
    page = new_page(chromium, language=language, viewport=viewport)
    for name, path in pages.items():
        if name == "triage":
            sign_in(page, live_server.url, clinician_north)
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("document.documentElement.scrollWidth") - viewport["width"]
        assert overflow <= 0, f"{name} ({language}, {width}) is {overflow}px wider than the screen"
        page.screenshot(
            path=str(SCREENSHOTS / f"{name}-{language}-{width}.png"), full_page=width == "phone"
        )
