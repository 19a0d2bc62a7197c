"""JSON API v1: shapes, authentication, region scoping, patient tokens."""

import pytest

from screening.models import Review, Screening


def token_for(screening_factory, **kw):
    """A screening with a known patient token."""
    from screening.services import access_token_hash

    token = "patient-token-" + "x" * 30
    screening = screening_factory(access_token_hash=access_token_hash(token), **kw)
    return screening, token


def test_the_regions_endpoint_lists_active_regions_and_which_accept_screenings(api_client, regions):
    response = api_client.get("/api/v1/regions/")
    assert response.status_code == 200
    assert response.json() == [
        {"code": "NORTH", "name": "Northern Province", "parent": None, "accepts_screenings": False},
        {
            "code": "NORTH-01",
            "name": "Riverside District",
            "parent": "NORTH",
            "accepts_screenings": True,
        },
        {
            "code": "NORTH-02",
            "name": "Highland District",
            "parent": "NORTH",
            "accepts_screenings": True,
        },
        {"code": "SOUTH", "name": "Southern Province", "parent": None, "accepts_screenings": False},
        {
            "code": "SOUTH-01",
            "name": "Coastal District",
            "parent": "SOUTH",
            "accepts_screenings": True,
        },
        {
            "code": "SOUTH-02",
            "name": "Valley District",
            "parent": "SOUTH",
            "accepts_screenings": True,
        },
    ]


def test_a_province_without_districts_accepts_screenings(api_client, regions):
    from screening.models import Region

    Region.objects.create(code="EAST", name="Eastern Province")
    listed = {r["code"]: r["accepts_screenings"] for r in api_client.get("/api/v1/regions/").json()}
    assert listed["EAST"] is True and listed["NORTH"] is False


def test_every_region_the_api_marks_as_accepting_takes_a_screening_and_no_other_does(
    api_client, regions, submission_data, upload
):
    listed = api_client.get("/api/v1/regions/").json()
    for n, region in enumerate(listed):
        payload = {**submission_data(region=region["code"], national_id=f"RG{n:06d}")}
        response = api_client.post(
            "/api/v1/screenings/", {**payload, "image": upload()}, format="multipart"
        )
        assert (response.status_code == 201) is region["accepts_screenings"], response.content


def test_posting_to_a_province_names_the_regions_that_accept_screenings(
    api_client, regions, submission_data, upload
):
    payload = {**submission_data(region="NORTH"), "image": upload()}
    response = api_client.post("/api/v1/screenings/", payload, format="multipart")
    assert response.status_code == 400
    (message,) = response.json()["region"]
    assert "NORTH-01, NORTH-02, SOUTH-01, SOUTH-02" in message
    assert '"accepts_screenings": true' in message


def test_the_status_endpoint_needs_the_right_token(api_client, screening_factory):
    screening, token = token_for(screening_factory, status="processing")
    url = f"/api/v1/screenings/{screening.pk}/status/"

    assert api_client.get(url, {"token": token}).status_code == 200
    assert api_client.get(url, {"token": token[:-1] + "y"}).status_code == 404
    assert api_client.get(url).status_code == 404
    other, _ = token_for(screening_factory)
    assert (
        api_client.get(f"/api/v1/screenings/{other.pk}/status/", {"token": "nope"}).status_code
        == 404
    )


def test_the_status_shows_the_review_once_decided_and_never_the_probabilities(
    api_client, screening_factory, prediction_factory, review_factory, clinician_north
):
    screening, token = token_for(screening_factory, status="completed")
    prediction_factory(screening=screening, prob_covid=0.91)
    url = f"/api/v1/screenings/{screening.pk}/status/?token={token}"

    before = api_client.get(url).json()
    assert set(before) == {"reference", "status", "submitted_at", "completed_at", "review"}
    assert before["status"] == "completed"
    assert before["review"] is None

    review_factory(screening=screening, clinician=clinician_north, decision="covid_suspected")
    after = api_client.get(url)
    assert after.json()["review"]["decision"] == "covid_suspected"
    assert after.json()["review"]["reviewed_at"]
    assert after["Cache-Control"] == "no-store"
    text = after.content.decode()
    assert "0.91" not in text
    assert "prob" not in text
    assert "label" not in text


def test_the_triage_api_needs_authentication(api_client, regions):
    assert api_client.get("/api/v1/triage/").status_code in (401, 403)


def test_the_triage_api_accepts_a_drf_token_and_lists_in_triage_order(
    api_client, clinician_north, make_scored
):
    low = make_scored(prob_covid=0.2)
    high = make_scored(prob_covid=0.8)
    reviewed = make_scored(prob_covid=0.99, decision="no_finding")
    make_scored(region="SOUTH-01", prob_covid=1.0)
    from portal.security.tokens import api_token_create

    _, key = api_token_create(user=clinician_north, name="test-integration")
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    body = api_client.get("/api/v1/triage/").json()

    assert set(body) == {"count", "count_capped", "next", "previous", "results"}
    assert body["count"] == 3 and body["count_capped"] is False
    assert [r["reference"] for r in body["results"]] == [
        high.reference,
        low.reference,
        reviewed.reference,
    ]
    first = body["results"][0]
    assert set(first) == {
        "id", "reference", "region", "status", "covid_probability", "probabilities", "label",
        "priority", "submitted_at", "reviewed", "quality_flags",
    }  # fmt: skip
    assert first["quality_flags"] == []
    assert first["region"] == "NORTH-01"
    assert first["covid_probability"] == pytest.approx(0.8)
    assert sum(first["probabilities"].values()) == pytest.approx(1.0)
    assert first["reviewed"] is False
    assert body["results"][2]["reviewed"] is True


def test_the_triage_api_filters_and_paginates(
    api_client, clinician_province, make_scored, settings
):
    for p in (0.1, 0.2, 0.3):
        make_scored(region="NORTH-01", prob_covid=p)
    make_scored(region="NORTH-02", prob_covid=0.4, decision="no_finding")
    api_client.force_authenticate(clinician_province)

    assert api_client.get("/api/v1/triage/", {"reviewed": "false"}).json()["count"] == 3
    assert api_client.get("/api/v1/triage/", {"region": "NORTH-02"}).json()["count"] == 1
    assert api_client.get("/api/v1/triage/", {"region": "SOUTH-01"}).json()["count"] == 0
    assert api_client.get("/api/v1/triage/", {"reviewed": "maybe"}).status_code == 400

    from screening.api import TriagePagination

    TriagePagination.page_size, saved = 2, TriagePagination.page_size
    try:
        page1 = api_client.get("/api/v1/triage/").json()
        page2 = api_client.get(page1["next"]).json()
        back = api_client.get(page2["previous"]).json()
    finally:
        TriagePagination.page_size = saved
    assert page1["count"] == 4 and len(page1["results"]) == 2 and page1["previous"] is None
    assert "after=" in page1["next"] and "page=" not in page1["next"]
    assert len(page2["results"]) == 2 and page2["previous"] and page2["next"] is None
    assert back["results"] == page1["results"] and back["previous"] is None


def test_the_triage_api_keeps_the_filters_in_its_page_links(
    api_client, clinician_province, make_scored, settings
):
    for p in (0.1, 0.2, 0.3):
        make_scored(region="NORTH-01", prob_covid=p)
    make_scored(region="NORTH-02", prob_covid=0.4)
    api_client.force_authenticate(clinician_province)
    settings.TRIAGE_PAGE_SIZE = 2

    page1 = api_client.get("/api/v1/triage/", {"region": "NORTH-01"}).json()
    page2 = api_client.get(page1["next"]).json()

    assert "region=NORTH-01" in page1["next"]
    assert {r["region"] for r in page1["results"] + page2["results"]} == {"NORTH-01"}
    assert len(page2["results"]) == 1 and page2["next"] is None


@pytest.mark.parametrize("param", ["after", "before"])
@pytest.mark.parametrize(
    "token", ["garbage", "eyJhIjoxfQ:1abc:xyz", "tampered"], ids=["junk", "bad-signature", "edited"]
)
def test_an_invalid_or_edited_triage_cursor_is_a_400_that_says_so(
    api_client, clinician_north, make_scored, settings, param, token
):
    for p in (0.1, 0.2, 0.3):
        make_scored(prob_covid=p)
    api_client.force_authenticate(clinician_north)
    settings.TRIAGE_PAGE_SIZE = 2
    if token == "tampered":  # a real cursor with one character changed
        from urllib.parse import unquote

        real = unquote(api_client.get("/api/v1/triage/").json()["next"].split("after=")[1])
        token = real[:5] + ("A" if real[5] != "A" else "B") + real[6:]

    response = api_client.get("/api/v1/triage/", {param: token})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and "page link is not valid" in body[param][0]


def test_a_clinician_records_a_review_and_earlier_ones_stay_as_history(
    api_client, clinician_north, make_scored
):
    screening = make_scored()
    api_client.force_authenticate(clinician_north)
    url = f"/api/v1/screenings/{screening.pk}/review/"

    first = api_client.post(url, {"decision": "no_finding", "note": "clear"}, format="json")
    second = api_client.post(url, {"decision": "covid_suspected"}, format="json")

    assert first.status_code == 201 and second.status_code == 201
    assert second.json()["decision"] == "covid_suspected"
    assert second.json()["clinician"] == clinician_north.username
    reviews = Review.objects.filter(screening=screening).order_by("created_at", "id")
    assert [(r.decision, r.is_current) for r in reviews] == [
        ("no_finding", False),
        ("covid_suspected", True),
    ]


def test_an_invalid_decision_is_a_400(api_client, clinician_north, make_scored):
    screening = make_scored()
    api_client.force_authenticate(clinician_north)
    response = api_client.post(
        f"/api/v1/screenings/{screening.pk}/review/", {"decision": "maybe"}, format="json"
    )
    assert response.status_code == 400
    assert "decision" in response.json()


def test_a_screening_still_in_the_queue_cannot_be_reviewed_yet(
    api_client, clinician_north, screening_factory
):
    screening = screening_factory(status="queued")
    api_client.force_authenticate(clinician_north)
    response = api_client.post(
        f"/api/v1/screenings/{screening.pk}/review/", {"decision": "no_finding"}, format="json"
    )
    assert response.status_code == 400
    assert not Review.objects.exists()


def test_reviewing_another_regions_screening_is_a_404_and_changes_nothing(
    api_client, clinician_north, make_scored
):
    south = make_scored(region="SOUTH-01")
    api_client.force_authenticate(clinician_north)
    response = api_client.post(
        f"/api/v1/screenings/{south.pk}/review/", {"decision": "no_finding"}, format="json"
    )
    assert response.status_code == 404
    assert not Review.objects.exists()
    assert Screening.objects.get(pk=south.pk).status == "completed"


def test_the_review_api_uses_csrf_for_session_clients(clinician_north, make_scored):
    from rest_framework.test import APIClient

    screening = make_scored()
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(clinician_north)
    response = client.post(
        f"/api/v1/screenings/{screening.pk}/review/", {"decision": "no_finding"}, format="json"
    )
    assert response.status_code == 403


def test_a_note_over_the_limit_gets_the_rules_message_from_the_api_and_the_page(
    api_client, north_client, clinician_north, make_scored
):
    from django.urls import reverse

    from screening import rules

    expected = rules.NOTE_TOO_LONG.format(limit=rules.NOTE_MAX_LENGTH)
    screening = make_scored()
    note = "x" * (rules.NOTE_MAX_LENGTH + 1)
    api_client.force_authenticate(clinician_north)
    api = api_client.post(
        f"/api/v1/screenings/{screening.pk}/review/",
        {"decision": "no_finding", "note": note},
        format="json",
    )
    page = north_client.post(
        reverse("screening:review", args=[screening.pk]), {"decision": "no_finding", "note": note}
    )

    assert api.status_code == 400 and api.json()["note"] == [expected]
    assert page.status_code == 400 and page.context["review_form"].errors["note"] == [expected]
    assert not screening.reviews.exists()


def test_the_triage_page_size_is_read_per_request(
    api_client, clinician_north, make_scored, settings
):
    for p in (0.1, 0.2, 0.3):
        make_scored(prob_covid=p)
    api_client.force_authenticate(clinician_north)
    assert len(api_client.get("/api/v1/triage/").json()["results"]) == 3  # views imported now
    settings.TRIAGE_PAGE_SIZE = 2
    body = api_client.get("/api/v1/triage/").json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert len(api_client.get(body["next"]).json()["results"]) == 1
