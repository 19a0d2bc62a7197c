"""Headless Chromium through the whole path, against ``live_server``.

Tasks go to the real Celery worker (``task_runner`` uses the ``celery_worker`` fixture when
PostgreSQL and Redis are configured, as under ``make test``; otherwise tasks run in-process).
Screenshots are written to var/screenshots/.
"""

import re

import pytest

from tests.browser.browsing import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery-staple"  # tests/conftest.py


@pytest.fixture
def browser(chromium):
    """Chromium from tests/browser/conftest.py."""
    return chromium


def test_a_patient_uploads_a_clinician_decides_and_the_patient_sees_the_decision(
    browser, live_server, task_runner, clinician_north, make_scored, sample_bytes, tmp_path
):
    from playwright.sync_api import expect

    # Two earlier screenings of the region, already reviewed: the new one must come first.
    make_scored(prob_covid=0.99, decision="no_finding", reviewer=clinician_north)
    make_scored(prob_covid=0.97, decision="pneumonia_other", reviewer=clinician_north)
    image_path = tmp_path / "chest.jpg"
    image_path.write_bytes(sample_bytes["covid"])

    # --- the patient submits ------------------------------------------------------------------
    patient = browser.new_context(viewport={"width": 1200, "height": 1000})
    page = patient.new_page()
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", name="Submit a chest X-ray")).to_be_visible()

    page.get_by_role("button", name="Submit X-ray").click()  # empty form: messages per field
    expect(page.locator("#field-national_id .error")).to_contain_text("national ID")
    expect(page.locator("#field-consent .error")).to_contain_text("tick the box")
    page.screenshot(path=str(SCREENSHOTS / "01-upload-errors.png"), full_page=True)

    page.select_option("#id_region", "NORTH-01")
    page.fill("#id_national_id", "ZX9876543")
    page.fill("#id_full_name", "Grace Mwangi")
    page.fill("#id_date_of_birth", "1961-07-04")
    page.fill("#id_phone", "+254 712 345678")
    page.check("#id_sex_0")
    page.fill("#id_symptoms", "Fever and cough for a week.")
    page.set_input_files("#id_image", str(image_path))
    page.check("#id_consent")
    page.get_by_role("button", name="Submit X-ray").click()

    page.wait_for_url(re.compile(r"/s/[0-9a-f-]{36}/$"))  # the token left the URL
    status_url = page.url
    reference = page.locator("#reference").inner_text().strip()
    assert re.fullmatch(r"CXR-[A-Z0-9]{4}-[A-Z0-9]{4}", reference)
    expect(page.locator("#status-title")).to_have_text("Awaiting clinician review", timeout=180_000)
    assert "%" not in page.locator("main").inner_text()  # no AI probability for patients
    page.screenshot(path=str(SCREENSHOTS / "02-patient-awaiting-review.png"), full_page=True)

    # --- the clinician triages and decides ------------------------------------------------------
    clinic = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    clinic.goto(live_server.url + "/clinic/")
    clinic.fill("#id_username", clinician_north.username)
    clinic.fill("#id_password", PASSWORD)
    clinic.get_by_role("button", name="Sign in").click()
    expect(clinic.get_by_role("heading", name="Triage list")).to_be_visible()
    first_row = clinic.locator("#triage-table tbody tr").first
    expect(first_row).to_have_attribute("data-reference", reference)
    expect(first_row).to_contain_text("%")
    clinic.screenshot(path=str(SCREENSHOTS / "03-triage-list.png"), full_page=True)

    first_row.get_by_role("link", name=reference).click()
    expect(clinic.get_by_role("heading", name=reference)).to_be_visible()
    expect(clinic.locator("#probabilities")).to_contain_text("COVID-19")
    clinic.wait_for_function(  # the radiograph loaded through the access-checked view
        "() => { const i = document.getElementById('xray'); return i.complete && i.naturalWidth > 0; }"
    )
    check_heatmap_overlay(clinic, expect)

    clinic.get_by_label("COVID-19 suspected - refer for PCR").check()
    clinic.fill("#id_note", "Bilateral peripheral opacities.")
    clinic.screenshot(path=str(SCREENSHOTS / "04-detail-before-decision.png"), full_page=True)
    clinic.get_by_role("button", name="Record decision").click()
    expect(clinic.locator(".messages")).to_contain_text(f"Decision recorded for {reference}")
    expect(clinic.locator("#review-history")).to_contain_text("COVID-19 suspected")

    # --- the patient's open page updates by itself ------------------------------------------
    expect(page.locator("#status-title")).to_have_text(
        "COVID-19 suspected – please have a PCR test", timeout=30_000
    )
    assert page.url == status_url
    page.screenshot(path=str(SCREENSHOTS / "05-patient-decision.png"), full_page=True)


# The rectangle an <img> with object-fit: contain paints its picture in (page coordinates).
CONTENT_RECT_JS = """el => {
  const r = el.getBoundingClientRect();
  const s = Math.min(r.width / el.naturalWidth, r.height / el.naturalHeight);
  const w = el.naturalWidth * s, h = el.naturalHeight * s;
  return {x: r.left + (r.width - w) / 2, y: r.top + (r.height - h) / 2, width: w, height: h};
}"""


def check_heatmap_overlay(clinic, expect) -> None:
    """Toggle the Grad-CAM overlay, move the opacity slider, pick the class map: the visible
    heatmap's picture lies exactly on the radiograph's."""
    controls = clinic.locator("#heat-controls")
    expect(controls).to_be_visible()
    expect(controls).to_contain_text("not where disease is")
    visible = clinic.locator(".heat-layer:not(.hidden)")
    expect(visible).to_have_count(0)  # off until the clinician asks for it
    expect(clinic.locator("#heat-opacity")).to_be_disabled()

    clinic.get_by_label("Show the model's attention (Grad-CAM heatmap)").check()
    expect(visible).to_have_count(1)
    clinic.wait_for_function(
        "() => [...document.querySelectorAll('.heat-layer')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    clinic.locator("#heat-opacity").fill("85")
    expect(clinic.locator("#heat-opacity-value")).to_have_text("85 %")
    assert visible.evaluate("el => getComputedStyle(el).opacity") == "0.85"

    xray = clinic.locator("#xray").evaluate(CONTENT_RECT_JS)
    heat = visible.evaluate(CONTENT_RECT_JS)
    for key in ("x", "y", "width", "height"):
        assert abs(xray[key] - heat[key]) <= 1.0, (key, xray, heat)
    assert xray["width"] > 200  # shown at a useful size

    selector = clinic.locator("#heat-class")
    if selector.count():  # two maps when the prediction is not COVID-19
        selector.select_option("covid")
        expect(visible).to_have_attribute("data-class", "covid")
    clinic.locator(".image-card").screenshot(path=str(SCREENSHOTS / "04a-detail-heatmap.png"))
    clinic.get_by_label("Show the model's attention (Grad-CAM heatmap)").uncheck()
    expect(visible).to_have_count(0)
    clinic.locator(".image-card").screenshot(path=str(SCREENSHOTS / "04b-detail-heatmap-off.png"))
