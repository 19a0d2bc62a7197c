"""A NUL (``%00``) in a query string or form is refused with a 400 and a message, never a 500:
PostgreSQL stores no NUL in ``text`` or ``jsonb`` and psycopg refuses one in a query parameter,
so the searches and the dashboard answered 500 (``screening.middleware.NulCharacterMiddleware``)."""

import pytest

from screening import rules


def refused(response) -> bool:
    body = response.content.decode()
    if response.headers["Content-Type"].startswith("application/json"):
        return response.status_code == 400 and response.json()["detail"] == rules.NUL_IN_REQUEST
    return response.status_code == 400 and str(rules.NUL_IN_REQUEST) in body


CLINICIAN_GETS = [
    "/clinic/?region=%00&status=%00&date_from=%00",
    "/clinic/?after=%00",
    "/clinic/search/?q=CXR%00ABCD",
    "/clinic/search/?q=an%00na",
    "/clinic/new-results/?since=%00",
    "/api/v1/triage/?region=%00&reviewed=%00",
    "/api/v1/triage/export/?region=%00",
    "/api/v1/search/?q=CXR-%00",
    "/api/v1/search/?q=an%00na",
    "/api/v1/stats/regions/?region=%00",
    "/dashboard/?region=%00&month=%00",
    "/dashboard/export.csv?region=%00",
]


@pytest.mark.parametrize("url", CLINICIAN_GETS)
def test_a_clinicians_request_with_a_nul_is_refused_with_a_message(north_client, scored_north, url):
    assert refused(north_client.get(url))


@pytest.mark.parametrize(
    "url",
    [
        "/find-my-result/?reference=%00",
        "/s/00000000-0000-0000-0000-000000000000/?t=%00",
        "/api/v1/screenings/00000000-0000-0000-0000-000000000000/status/?token=%00",
    ],
)
def test_a_patients_request_with_a_nul_is_refused_with_a_message(client, db, url):
    assert refused(client.get(url))


def test_a_login_or_a_patient_form_with_a_nul_is_refused_with_a_message(client, db):
    from urllib.parse import urlencode

    form = "application/x-www-form-urlencoded"  # what a browser sends for these forms
    login = urlencode({"username": "a\x00b", "password": "x\x00"})
    assert refused(client.post("/accounts/login/", login, content_type=form))
    recover = urlencode({"reference": "CXR\x00", "national_id": "\x00"})
    assert refused(client.post("/find-my-result/", recover, content_type=form))
    # A multipart form is left to its fields' own check (Django refuses a NUL in any CharField):
    # the form again, not a 500, and nobody logged in.
    multipart = client.post("/accounts/login/", {"username": "a\x00b", "password": "x"})
    assert multipart.status_code == 200 and "_auth_user_id" not in client.session


def test_a_request_without_a_nul_is_served_as_before(north_client, scored_north):
    assert north_client.get("/clinic/search/?q=CXR-0000").status_code == 200
    assert north_client.get("/api/v1/search/?q=CXR-0000").status_code == 200
