"""Clinicians (issue 12): search, new results without moving the list, the next unreviewed
screening after a decision, and the triage list's smaller fixes."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db


@pytest.fixture
def patients(make_scored):
    return {
        "amina": make_scored(full_name="Amina Okafor", national_id="AB123456"),
        "grace": make_scored(full_name="Grace Mwangi", national_id="ZX9876543"),
        "south": make_scored(full_name="Amina Southern", national_id="SO111111", region="SOUTH-01"),
    }


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("amina", ["amina"]),  # partial name, any case; not the other region's Amina
        ("okafor amina", ["amina"]),  # words in any order
        ("zx-9876-543", ["grace"]),  # the whole national ID, with the card's dashes
        ("9876543", []),  # part of a national ID no longer matches (BENCHMARKS.md, section 4)
    ],
)
def test_search_finds_by_reference_national_id_or_name_within_the_clinicians_regions(
    north_client, patients, query, found
):
    page = north_client.get(reverse("screening-people:search"), {"q": query}).content.decode()
    page = page.split('aria-labelledby="search-results-title"')[
        1
    ]  # the results, not the echo of the query
    shown = {name for name, s in patients.items() if s.reference in page}
    assert shown == set(found)


def test_search_by_reference_ignores_dashes_and_case_and_is_audited(north_client, patients):
    from portal.audit.models import AuditEvent

    reference = patients["grace"].reference
    for query in (reference, reference.lower().replace("-", "")):
        page = north_client.get(reverse("screening-people:search"), {"q": query})
        assert reference in page.content.decode()
    other = north_client.get(reverse("screening-people:search"), {"q": patients["south"].reference})
    assert (
        patients["south"].reference
        not in other.content.decode().split('aria-labelledby="search-results-title"')[1]
    )
    events = AuditEvent.objects.filter(action="screening.search").order_by("id")
    assert events.count() == 3
    assert events[0].detail["references"] == [reference]
    assert events[2].detail.get("references", []) == [] and events[2].detail["note"] == "0 results"


def test_the_new_results_count_covers_only_results_after_the_page_and_in_the_users_regions(
    north_client, make_scored
):
    shown_at = timezone.now()
    make_scored(prob_covid=0.9)
    make_scored(prob_covid=0.8)
    make_scored(prob_covid=0.7, region="SOUTH-01")
    old = make_scored(prob_covid=0.6)
    type(old).objects.filter(pk=old.pk).update(
        completed_at=shown_at - datetime.timedelta(minutes=1)
    )
    answer = north_client.get(
        reverse("screening-people:triage-new"), {"since": shown_at.isoformat()}
    ).json()
    assert answer == {"new": 2, "text": "2 new results"}
    chinese = north_client.get(
        reverse("screening-people:triage-new"),
        {"since": shown_at.isoformat()},
        HTTP_ACCEPT_LANGUAGE="zh-CN",
    ).json()
    assert chinese["text"] == "2 个新结果"


def test_the_new_results_count_reads_a_time_with_any_offset(north_client, make_scored):
    shown_at = timezone.now()
    make_scored(prob_covid=0.9)
    in_nairobi = shown_at.astimezone(datetime.timezone(datetime.timedelta(hours=3)))
    url = reverse("screening-people:triage-new")
    assert north_client.get(url, {"since": in_nairobi.isoformat()}).json()["new"] == 1
    later = (shown_at + datetime.timedelta(minutes=5)).astimezone(
        datetime.timezone(datetime.timedelta(hours=-23))  # an offset PostgreSQL itself refuses
    )
    assert north_client.get(url, {"since": later.isoformat()}).json()["new"] == 0


@pytest.mark.parametrize(
    "since",
    [
        "2026-13-45T00:00:00",  # well formed, not a date: parse_datetime raises
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        "yesterday",
    ],
)
def test_the_new_results_count_for_a_time_that_is_not_one_is_zero_not_an_error(
    north_client, make_scored, since
):
    make_scored(prob_covid=0.9)
    response = north_client.get(reverse("screening-people:triage-new"), {"since": since})
    assert response.status_code == 200 and response.json() == {"new": 0}


def test_the_triage_list_can_end_on_the_last_day_of_the_calendar(north_client, make_scored):
    screening = make_scored(prob_covid=0.9)
    page = north_client.get(reverse("screening:triage"), {"date_to": "9999-12-31"})
    assert page.status_code == 200 and screening.reference in page.content.decode()
    export = north_client.get("/api/v1/triage/export/", {"date_to": "9999-12-31"})
    assert export.status_code == 200 and screening.reference in export.content.decode()


def test_recording_a_decision_goes_to_the_next_unreviewed_screening_with_a_way_back(
    north_client, make_scored
):
    first = make_scored(prob_covid=0.9)
    second = make_scored(prob_covid=0.5)
    response = north_client.post(
        reverse("screening:review", args=[first.pk]), {"decision": "no_finding"}
    )
    assert (
        response["Location"] == reverse("screening:detail", args=[second.pk]) + f"?from={first.pk}"
    )
    page = north_client.get(response["Location"]).content.decode()
    assert f"Decision recorded for {first.reference}" in page
    assert f"Back to {first.reference}" in page
    last = north_client.post(
        reverse("screening:review", args=[second.pk]), {"decision": "no_finding"}
    )
    assert last["Location"] == reverse("screening:detail", args=[second.pk])  # none left


def test_the_way_back_never_shows_another_regions_screening(north_client, make_scored):
    mine = make_scored()
    theirs = make_scored(region="SOUTH-01")
    page = north_client.get(
        reverse("screening:detail", args=[mine.pk]) + f"?from={theirs.pk}"
    ).content.decode()
    assert theirs.reference not in page


def test_the_status_filter_offers_completed_once(north_client):
    html = north_client.get(reverse("screening:triage")).content.decode()
    select = html.split('name="status"')[1].split("</select>")[0]
    assert select.count(">Completed<") == 1


def test_a_reversed_date_range_is_said_not_silently_empty(north_client, make_scored):
    screening = make_scored()
    html = north_client.get(
        reverse("screening:triage"), {"date_from": "2030-01-02", "date_to": "2020-01-01"}
    ).content.decode()
    assert "end date is before the start date" in html
    assert screening.reference not in html  # from 2030 on: the end date was ignored


def test_the_triage_list_shows_quality_reasons_and_a_legend_of_the_priority_bands(
    north_client, make_scored
):
    make_scored(quality_flags=["too dark", "low contrast"])
    html = north_client.get(reverse("screening:triage")).content.decode()
    assert "quality: too dark, low contrast" in html  # in the row, not only a tooltip
    legend = html.split('id="band-legend"')[1].split("</p>")[0]
    assert "High" in legend and "Medium" in legend and "Low" in legend


def test_a_clinician_without_regions_is_told_why_the_list_is_empty(client, plain_user):
    client.force_login(plain_user)
    html = client.get(reverse("screening:triage")).content.decode()
    assert "no regions assigned" in html


def test_clinician_pages_are_translated(north_client, make_scored):
    screening = make_scored(prob_covid=0.9)
    html = north_client.get(
        reverse("screening:detail", args=[screening.pk]), HTTP_ACCEPT_LANGUAGE="zh-CN"
    ).content.decode()
    assert "记录结论" in html and "疑似新冠肺炎 - 转做核酸（PCR）检测" in html
    assert "<legend" in html.split('id="review-form"')[1]  # the decision radios have a group label
