"""Triage order and region scoping of the read side."""

import datetime

import pytest
from django.http import Http404
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
