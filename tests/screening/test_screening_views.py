"""HTML pages: patient status page, clinician triage list, detail, image and review."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from screening.models import Review
from screening.services import access_token_hash

TOKEN = "a-patient-token-that-is-long-enough-123"


def test_clinician_pages_require_sign_in(client, make_scored):
    screening = make_scored()
    for url in (
        reverse("screening:triage"),
        reverse("screening:detail", args=[screening.pk]),
        reverse("screening:image", args=[screening.pk]),
        reverse("screening:triage-state"),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_the_triage_page_lists_own_regions_in_order_with_percentages_and_bands(
    north_client, make_scored, screening_factory
):
    low = make_scored(prob_covid=0.123)
    high = make_scored(prob_covid=0.876)
    south = make_scored(region="SOUTH-01", prob_covid=0.99)
    failed = screening_factory(status="failed", status_reason="The image could not be read.")

    response = north_client.get(reverse("screening:triage"))

    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    html = response.content.decode()
    results = html.split('id="triage-table"')[1].split("</table>")[0]
    assert results.index(high.reference) < results.index(low.reference)
    assert "87.6&nbsp;%" in results and "12.3&nbsp;%" in results
    assert "band-high" in results and "band-low" in results
    assert south.reference not in html
    pending = html.split('id="pending-table"')[1].split("</table>")[0]
    assert failed.reference in pending and "could not be read" in pending
    assert failed.reference not in results


def test_the_triage_page_filters_by_review_state(north_client, make_scored):
    open_one = make_scored()
    done = make_scored(decision="no_finding")
    html = north_client.get(reverse("screening:triage"), {"reviewed": "true"}).content.decode()
    assert done.reference in html and open_one.reference not in html


def test_the_detail_page_shows_all_probabilities_patient_details_and_history(
    north_client, make_scored, clinician_north
):
    screening = make_scored(prob_covid=0.5, decision="no_finding", reviewer=clinician_north)
    html = north_client.get(reverse("screening:detail", args=[screening.pk])).content.decode()
    for text in ("COVID-19", "No finding", "Pneumonia", "50.0&nbsp;%", "25.0&nbsp;%"):
        assert text in html
    assert screening.full_name in html and screening.national_id in html
    assert 'id="review-history"' in html
    assert reverse("screening:image", args=[screening.pk]) in html


def test_the_image_is_served_privately_to_clinicians_of_the_region(north_client, make_scored):
    screening = make_scored()
    response = north_client.get(reverse("screening:image", args=[screening.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, no-store"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_another_regions_screening_is_a_404_on_every_clinician_page(north_client, make_scored):
    south = make_scored(region="SOUTH-01")
    assert north_client.get(reverse("screening:detail", args=[south.pk])).status_code == 404
    assert north_client.get(reverse("screening:image", args=[south.pk])).status_code == 404
    response = north_client.post(
        reverse("screening:review", args=[south.pk]), {"decision": "no_finding"}
    )
    assert response.status_code == 404
    assert not Review.objects.exists()


def test_a_clinician_records_a_decision_through_the_form(north_client, make_scored):
    screening = make_scored()
    response = north_client.post(
        reverse("screening:review", args=[screening.pk]),
        {"decision": "pneumonia_other", "note": "Right lower lobe."},
        follow=True,
    )
    assert response.status_code == 200
    assert "Decision recorded" in response.content.decode()
    review = Review.objects.get(screening=screening)
    assert (review.decision, review.note, review.is_current) == (
        "pneumonia_other",
        "Right lower lobe.",
        True,
    )


def test_a_review_without_a_decision_shows_an_error(north_client, make_scored):
    screening = make_scored()
    response = north_client.post(reverse("screening:review", args=[screening.pk]), {"note": "x"})
    assert response.status_code == 400
    assert "Choose a decision." in response.content.decode()


def test_the_patient_status_page_needs_the_token_and_never_shows_probabilities(
    client, screening_factory, prediction_factory
):
    screening = screening_factory(status="completed", access_token_hash=access_token_hash(TOKEN))
    prediction_factory(screening=screening, prob_covid=0.8765)

    assert client.get(reverse("screening:status", args=[screening.pk, "wrong"])).status_code == 404
    response = client.get(reverse("screening:status", args=[screening.pk, TOKEN]), follow=True)

    assert response.status_code == 200
    html = response.content.decode()
    assert screening.reference in html
    assert "Awaiting clinician review" in html
    # Every way a template could render 0.8765 (a bare "87" also occurs in random tokens).
    for shown in ("0.8765", "0.877", "0.88", "87.65", "87.7", "87.6", "88%", "88 %", "87%"):
        assert shown not in html
    assert "probab" not in html.lower().split("<footer")[0]
    assert response["Cache-Control"] == "private, no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


def test_the_patient_status_page_shows_the_clinicians_decision(
    client, screening_factory, review_factory, clinician_north
):
    screening = screening_factory(status="completed", access_token_hash=access_token_hash(TOKEN))
    review_factory(screening=screening, decision="covid_suspected", clinician=clinician_north)
    html = client.get(
        reverse("screening:status", args=[screening.pk, TOKEN]), follow=True
    ).content.decode()
    assert "COVID-19 suspected" in html
    assert "PCR" in html


def test_the_patient_status_page_explains_a_failure(client, screening_factory):
    screening = screening_factory(
        status="failed",
        status_reason="The image could not be read.",
        access_token_hash=access_token_hash(TOKEN),
    )
    html = client.get(
        reverse("screening:status", args=[screening.pk, TOKEN]), follow=True
    ).content.decode()
    assert "could not be read" in html
    assert "Submit a new image" in html


def test_the_triage_state_endpoint_returns_a_fingerprint(north_client, make_scored):
    first = north_client.get(reverse("screening:triage-state")).json()["state"]
    make_scored()
    assert north_client.get(reverse("screening:triage-state")).json()["state"] != first


def test_the_health_check_answers(client, db):
    assert client.get("/healthz").json()["status"] == "ok"  # the probe itself: portal.health


def test_access_tokens_are_redacted_from_log_messages():
    from screening.logging import redact

    line = f'"GET /s/0b0e7a3c-1d2e-4f50-8a9b-1c2d3e4f5a6b/{TOKEN}/ HTTP/1.1" 200'
    assert TOKEN not in redact(line)
    assert TOKEN not in redact(f"GET /api/v1/screenings/x/status/?token={TOKEN}&a=1")


def _link(html: str, anchor_id: str) -> str:
    import html as html_lib

    href = html.split(f'id="{anchor_id}"')[0].rsplit('href="', 1)[1].split('"')[0]
    href = html_lib.unescape(href)
    return href if href.startswith("/") else reverse("screening:triage") + href


def test_the_triage_page_pages_by_cursor_keeping_its_filters_with_first_and_previous_links(
    north_client, make_scored, settings
):
    settings.TRIAGE_PAGE_SIZE = 2
    open_ones = [make_scored(prob_covid=p) for p in (0.9, 0.7, 0.5, 0.3, 0.1)]
    done = make_scored(prob_covid=0.99, decision="no_finding")
    url = reverse("screening:triage")

    first = north_client.get(url, {"reviewed": "false"}).content.decode()
    assert 'id="page-previous"' not in first and 'id="page-first"' not in first
    second_url = _link(first, "page-next")
    assert "reviewed=false" in second_url and "after=" in second_url
    second = north_client.get(second_url).content.decode()
    third = north_client.get(_link(second, "page-next")).content.decode()

    def shown(page: str) -> list:
        table = page.split('id="triage-table"')[1].split("</table>")[0]
        return [s for s in open_ones + [done] if s.reference in table]

    assert shown(first) + shown(second) + shown(third) == open_ones  # the filter held
    assert 'id="page-next"' not in third and 'id="page-first"' in third
    assert shown(north_client.get(_link(third, "page-previous")).content.decode()) == shown(second)
    back_to_first = north_client.get(_link(third, "page-first")).content.decode()
    assert shown(back_to_first) == shown(first) and "reviewed=false" in _link(third, "page-first")


def test_the_triage_page_shows_a_capped_count_not_an_exact_total(
    north_client, make_scored, monkeypatch
):
    from screening.selectors import triage  # where the cap is read

    for p in (0.1, 0.2, 0.3, 0.4):
        make_scored(prob_covid=p)
    html = north_client.get(reverse("screening:triage")).content.decode()
    assert '<span class="count" id="results-count">4</span>' in html
    monkeypatch.setattr(triage, "TRIAGE_COUNT_CAP", 3)
    with CaptureQueriesContext(connection) as ctx:
        html = north_client.get(reverse("screening:triage")).content.decode()
    assert '<span class="count" id="results-count">more than 3</span>' in html
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    screening_counts = [sql for sql in counts if "screening_screening" in sql]
    assert screening_counts and all("LIMIT 4" in sql for sql in screening_counts)


def test_an_edited_page_link_is_a_400_with_a_message_and_the_first_page(north_client, make_scored):
    screening = make_scored()
    for param in ("after", "before"):
        response = north_client.get(reverse("screening:triage"), {param: "edited.cursor:x:y"})
        assert response.status_code == 400
        html = response.content.decode()
        assert 'id="cursor-error" role="alert"' in html and "page link is not valid" in html
        assert screening.reference in html.split('id="triage-table"')[1]
