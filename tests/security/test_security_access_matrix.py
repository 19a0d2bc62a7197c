"""The access matrix of SECURITY.md, walked cell by cell (screening of region NORTH-01).

Roles: anonymous, the patient (holding the status cookie), a clinician of the screening's region
(north), of another region (south), a clinician with no regions, staff without permissions, an
inactive clinician of the region, a superuser. Outside a user's regions is 404, never 403.
"""

from __future__ import annotations

import pytest
from django.test import Client

from .conftest import PATIENT_TOKEN

ROLES = ["anonymous", "patient", "north", "south", "no_regions", "staff", "inactive", "superuser"]

# target -> expected status per role, in ROLES order. L: redirect to the login page.
MATRIX = {
    "/clinic/":                                 ["L", "L", 200, 200, 200, 200, "L", 200],
    "/clinic/screenings/{id}/":                 ["L", "L", 200, 404, 404, 404, "L", 200],
    "/clinic/screenings/{id}/image/":           ["L", "L", 200, 404, 404, 404, "L", 200],
    "/clinic/screenings/{id}/heatmap/covid/":   ["L", "L", 200, 404, 404, 404, "L", 200],
    "/s/{id}/":                                 [404, 200, 404, 404, 404, 404, 404, 404],
    "/api/v1/screenings/{id}/status/":          [404, 200, 404, 404, 404, 404, 404, 404],
    "/api/v1/triage/":                          [401, 401, 200, 200, 200, 200, 401, 200],
    "/api/v1/triage/export/":                   [401, 401, 200, 200, 200, 200, 401, 200],
    "/api/v1/screenings/{id}/":                 [401, 401, 200, 404, 404, 404, 401, 200],
    "/api/v1/screenings/{id}/image/":           [401, 401, 200, 404, 404, 404, 401, 200],
    "/api/v1/screenings/{id}/heatmaps/covid/":  [401, 401, 200, 404, 404, 404, 401, 200],
    "/api/v1/screenings/{id}/reviews/":         [401, 401, 200, 404, 404, 404, 401, 200],
    "/api/v1/search/?q={ref}":                  [401, 401, 200, 200, 200, 200, 401, 200],
    "/api/v1/stats/regions/":                   [401, 401, 200, 200, 200, 200, 401, 200],
    "/api/v1/admin/regions/":                   [401, 401, 403, 403, 403, 403, 401, 200],
    "/api/v1/admin/clinicians/":                [401, 401, 403, 403, 403, 403, 401, 200],
    "/admin/screening/screening/{id}/change/":  ["A", "A", "A", "A", "A", 403, "A", 200],
}  # fmt: skip
# What a 200 search or triage list shows: the screening, or nothing.
SEES_IT = {"north", "superuser"}


@pytest.fixture
def clients(scored_north, make_clinician, django_user_model, superuser):
    made = {role: Client() for role in ROLES}
    made["patient"].get(f"/s/{scored_north.pk}/{PATIENT_TOKEN}/")
    made["north"].force_login(make_clinician("clinician.north01", "NORTH-01"))
    made["south"].force_login(make_clinician("clinician.south01", "SOUTH-01"))
    made["no_regions"].force_login(make_clinician("clinician.none"))
    made["staff"].force_login(
        django_user_model.objects.create_user(username="staff.plain", is_staff=True)
    )
    made["inactive"].force_login(make_clinician("clinician.gone", "NORTH-01", is_active=False))
    made["superuser"].force_login(superuser)
    return made


def _check(client, scored_north, target, role, expected) -> str | None:
    url = target.format(id=scored_north.pk, ref=scored_north.reference)
    response = client.get(url)
    code, location = response.status_code, response.get("Location", "")
    if expected == "L":
        ok = code == 302 and location.startswith("/accounts/login/")
    elif expected == "A":
        ok = code == 302 and location.startswith("/admin/login/")
    else:
        ok = code == expected
    if (
        ok
        and expected == 200
        and (target == "/api/v1/triage/" or target.startswith("/api/v1/search/"))
    ):
        body = response.json()
        rows = body["results"] if isinstance(body, dict) else body
        ok = (scored_north.reference in {r["reference"] for r in rows}) == (role in SEES_IT)
    if ok and expected == 200 and target == "/api/v1/triage/export/":
        ok = (scored_north.reference in response.content.decode()) == (role in SEES_IT)
    if ok and expected == 200 and target == "/clinic/":
        ok = (scored_north.reference in response.content.decode()) == (role in SEES_IT)
    return None if ok else f"{role} GET {target}: {code} {location}, expected {expected}"


@pytest.mark.parametrize("role", ROLES)
def test_the_access_matrix_holds_for_every_page_and_endpoint(clients, scored_north, role):
    column = ROLES.index(role)
    wrong = [
        _check(clients[role], scored_north, target, role, codes[column])
        for target, codes in MATRIX.items()
    ]
    assert [w for w in wrong if w] == []


@pytest.mark.parametrize("role", ["north", "south"])
def test_pagination_links_stay_within_the_clinicians_regions(clients, make_scored, settings, role):
    for _ in range(3):
        make_scored(region="NORTH-01")
        make_scored(region="SOUTH-01")
    from screening.api import TriagePagination

    TriagePagination.page_size, saved = 2, TriagePagination.page_size
    try:
        seen, url = [], "/api/v1/triage/"
        while url:
            body = clients[role].get(url).json()
            seen += [r["region"] for r in body["results"]]
            url = body["next"]
    finally:
        TriagePagination.page_size = saved
    own = "NORTH-01" if role == "north" else "SOUTH-01"
    assert set(seen) == {own} and len(seen) == (4 if role == "north" else 3)
