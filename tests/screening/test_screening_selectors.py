"""Triage order and region scoping of the read side."""

import datetime

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from screening import selectors
from screening.selectors import TriageFilters

HOUR = datetime.timedelta(hours=1)


def refs(qs):
    return [s.reference for s in qs]


def test_the_triage_list_puts_unreviewed_first_then_highest_covid_probability_then_oldest(
    clinician_north, make_scored
):
    now = timezone.now()
    reviewed_high = make_scored(
        prob_covid=0.99, submitted_at=now - 9 * HOUR, decision="covid_suspected"
    )
    low = make_scored(prob_covid=0.10, submitted_at=now - 8 * HOUR)
    tie_newer = make_scored(prob_covid=0.70, submitted_at=now - 1 * HOUR)
    tie_older = make_scored(prob_covid=0.70, submitted_at=now - 5 * HOUR)
    top = make_scored(prob_covid=0.95, submitted_at=now)
    reviewed_low = make_scored(prob_covid=0.05, submitted_at=now - 20 * HOUR, decision="no_finding")

    listed = refs(selectors.triage_list_for_user(user=clinician_north))

    assert listed == refs([top, tie_older, tie_newer, low, reviewed_high, reviewed_low])


def test_screenings_without_a_prediction_come_after_scored_ones_among_the_unreviewed(
    clinician_north, make_scored, screening_factory
):
    pending = screening_factory(status="queued", submitted_at=timezone.now() - 30 * HOUR)
    scored = make_scored(prob_covid=0.01)
    assert refs(selectors.triage_list_for_user(user=clinician_north)) == refs([scored, pending])


def test_a_clinician_sees_only_the_screenings_of_their_regions(
    clinician_north, clinician_south, make_scored
):
    north = make_scored(region="NORTH-01")
    other_district = make_scored(region="NORTH-02")
    south = make_scored(region="SOUTH-01")

    assert refs(selectors.triage_list_for_user(user=clinician_north)) == [north.reference]
    assert refs(selectors.triage_list_for_user(user=clinician_south)) == [south.reference]
    assert other_district.reference not in refs(
        selectors.triage_list_for_user(user=clinician_north)
    )


def test_a_clinician_of_a_province_sees_all_its_districts(clinician_province, make_scored):
    n1 = make_scored(region="NORTH-01", prob_covid=0.9)
    n2 = make_scored(region="NORTH-02", prob_covid=0.8)
    make_scored(region="SOUTH-01")
    assert refs(selectors.triage_list_for_user(user=clinician_province)) == refs([n1, n2])


def test_superusers_see_every_region_and_users_without_regions_see_nothing(
    superuser, plain_user, make_scored
):
    made = [make_scored(region=code) for code in ("NORTH-01", "SOUTH-02", "NORTH-09")]
    assert set(refs(selectors.triage_list_for_user(user=superuser))) == set(refs(made))
    assert refs(selectors.triage_list_for_user(user=plain_user)) == []


def test_getting_a_screening_outside_the_users_regions_is_a_404(clinician_north, make_scored):
    south = make_scored(region="SOUTH-01")
    with pytest.raises(Http404):
        selectors.screening_get_for_user(user=clinician_north, screening_id=south.pk)
    with pytest.raises(Http404):
        selectors.screening_get_for_user(user=clinician_north, screening_id="not-a-uuid")


def test_filters_narrow_the_list_by_region_status_review_and_date(
    clinician_province, make_scored, screening_factory
):
    now = timezone.now()
    a = make_scored(region="NORTH-01", prob_covid=0.9, submitted_at=now - 3 * 24 * HOUR)
    b = make_scored(region="NORTH-02", prob_covid=0.8, decision="no_finding")
    failed = screening_factory(region=a.region, status="failed")
    user = clinician_province

    def listed(**kw):
        return refs(selectors.triage_list_for_user(user=user, filters=TriageFilters(**kw)))

    assert listed(region="NORTH-02") == [b.reference]
    assert listed(region="NORTH") == refs([a, failed, b])
    assert listed(region="SOUTH-01") == []
    assert listed(reviewed=True) == [b.reference]
    assert listed(reviewed=False, status="completed") == [a.reference]
    assert listed(status="failed") == [failed.reference]
    assert listed(date_to=(now - 2 * 24 * HOUR).date()) == [a.reference]
    assert listed(date_from=now.date()) == refs([failed, b])


def test_the_pending_section_lists_waiting_processing_and_failed_screenings(
    clinician_north, make_scored, screening_factory
):
    make_scored()
    queued = screening_factory(status="queued", submitted_at=timezone.now() - HOUR)
    failed = screening_factory(status="failed", status_reason="The image could not be read.")
    screening_factory(status="queued", region=make_scored(region="SOUTH-01").region)
    assert refs(selectors.pending_list_for_user(user=clinician_north)) == refs([failed, queued])


def test_the_triage_state_changes_when_a_result_or_a_review_arrives(
    clinician_north, make_scored, screening_factory, review_factory
):
    first = selectors.triage_state_for_user(user=clinician_north)
    screening = screening_factory(status="processing")
    second = selectors.triage_state_for_user(user=clinician_north)
    from screening.models import Screening

    Screening.objects.filter(pk=screening.pk).update(status="completed")
    third = selectors.triage_state_for_user(user=clinician_north)
    review_factory(screening=screening, clinician=clinician_north)
    fourth = selectors.triage_state_for_user(user=clinician_north)
    assert len({first, second, third, fourth}) == 4


# --- search (people.screening_search) ------------------------------------------------------------
@pytest.fixture
def findable(make_scored):
    return {
        "amina": make_scored(full_name="Amina Okafor", national_id="AB123456"),
        "grace": make_scored(full_name="Grace Mwangi", national_id="zx9876543"),
        "south": make_scored(full_name="Amina South", national_id="SO111111", region="SOUTH-01"),
    }


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("ZX-987-6543", ["grace"]),  # the whole national ID: card separators and case ignored
        ("ab 123 456", ["amina"]),
        ("9876543", []),  # part of a national ID: no longer a match
        ("ZX987", []),
        ("amina", ["amina"]),  # a name: any part of 3+ letters, any case, own regions only
        ("okafor am", ["amina"]),  # each word (the short one too), any order
        ("am", []),  # too short to look up
        ("okafor1", []),  # a query with digits is an identifier, not a name
    ],
)
def test_search_matches_a_whole_national_id_or_part_of_a_name(
    clinician_north, findable, query, found
):
    from screening import people

    results = people.screening_search(user=clinician_north, query=query)
    assert {s.pk for s in results} == {findable[name].pk for name in found}


def test_search_matches_a_reference_by_its_beginning_in_any_spelling(clinician_north, findable):
    from screening import people

    reference = findable["grace"].reference  # CXR-XXXX-XXXX
    body = reference.removeprefix("CXR-").replace("-", "")
    for query in (reference, reference.lower(), body, body[:4], f"cxr {body[:6]}", body[:5]):
        found = people.screening_search(user=clinician_north, query=query)
        assert findable["grace"].pk in {s.pk for s in found}, query
    assert people.screening_search(user=clinician_north, query=body[4:]) == []  # its 2nd half
    assert people.screening_search(user=clinician_north, query=body[:3]) == []  # under 4
    south = findable["south"].reference
    assert people.screening_search(user=clinician_north, query=south) == []


@pytest.fixture
def amina_in_the_north(make_scored):
    """Seven "Amina" screenings over NORTH's districts, interleaved in time, one in SOUTH."""
    now = timezone.now()
    made = [
        make_scored(
            full_name=f"Amina Patient{i}",
            region=region,
            submitted_at=now - datetime.timedelta(minutes=minutes),
        )
        for i, (region, minutes) in enumerate(
            [
                ("NORTH-01", 1),
                ("NORTH-01", 2),
                ("NORTH-02", 3),
                ("NORTH-01", 4),
                ("NORTH", 5),
                ("NORTH-02", 6),
                ("NORTH-01", 7),
            ]
        )
    ]
    make_scored(full_name="Amina South", region="SOUTH-01", submitted_at=now)
    return made  # newest first


def test_a_province_clinicians_name_search_finds_the_newest_matches_over_every_district(
    clinician_province, amina_in_the_north
):
    """The newest ``limit`` of all the regions together, several from one district where they
    are the newest, none from outside the province."""
    from screening import people

    for limit in (1, 3, 5, 50):
        found = people.screening_search(user=clinician_province, query="amina", limit=limit)
        assert [s.pk for s in found] == [s.pk for s in amina_in_the_north[:limit]], limit


@pytest.mark.parametrize("who", ["superuser", "clinician_province"])
@pytest.mark.parametrize("window", [1, 3, 8, 100])
def test_a_name_search_over_several_regions_finds_the_newest_matches_past_its_walking_window(
    request, amina_in_the_north, make_scored, monkeypatch, window, who
):
    """A name search over every region (a superuser) or several (a province) walks only the
    newest rows of a window and reads the older matches through the trigram indexes: the same
    newest matches whatever the window, and the planner's settings are back to normal afterwards
    in the caller's transaction."""
    from screening import people

    user = request.getfixturevalue(who)
    for minutes in (0, 8, 9):  # others, around and between the matches
        make_scored(
            full_name="Grace Other",
            submitted_at=timezone.now() - datetime.timedelta(minutes=minutes),
        )
    monkeypatch.setattr(people, "SEARCH_EVERYWHERE_WINDOW", window)
    everyone = ["Amina South"] if who == "superuser" else []
    assert [s.full_name for s in people.screening_search(user=user, query="amina south")] == (
        everyone
    )
    for limit in (1, 4, 50):
        with CaptureQueriesContext(connection) as ctx:
            found = people.screening_search(user=user, query="amina", limit=limit)
        expected = [*everyone, *(s.full_name for s in amina_in_the_north)][:limit]
        assert [s.full_name for s in found] == expected, (window, limit)
    # The last search (50) found fewer than 50 in any window shorter than the table: it read
    # the older rows with bitmap scans only.
    read_older = any("enable_seqscan = off" in q["sql"] for q in ctx.captured_queries)
    assert read_older == (window < 100), ctx.captured_queries
    with connection.cursor() as cur:
        cur.execute("SHOW enable_seqscan")
        assert cur.fetchone()[0] == "on"
        cur.execute("SHOW enable_indexscan")
        assert cur.fetchone()[0] == "on"


def test_a_search_that_can_match_nothing_says_what_to_type(
    north_client, api_client, clinician_north
):
    from django.urls import reverse

    html = north_client.get(reverse("screening-people:search"), {"q": "ab"}).content.decode()
    assert 'id="search-too-short"' in html and "at least 3 letters of a name" in html
    api_client.force_authenticate(clinician_north)
    response = api_client.get("/api/v1/search/", {"q": "ab"})
    assert response.status_code == 400 and "whole national ID" in response.json()["q"][0]
