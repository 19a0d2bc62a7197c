"""The triage list costs the same number of SQL queries whatever the page holds, and keeps its
order on the copied sort keys (``Screening.triage_score`` / ``is_reviewed``)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from screening import selectors
from screening.models import Screening


def queries_for(client, url: str, params: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "url", [reverse("screening:triage"), "/api/v1/triage/"], ids=["page", "api"]
)
def test_a_triage_page_costs_the_same_queries_for_three_rows_or_twenty_five(
    url, north_client, make_scored, clinician_north, settings
):
    for i in range(3):
        make_scored(prob_covid=0.1 + i / 10, decision="no_finding" if i == 0 else None)
    few = queries_for(north_client, url)
    for i in range(40):
        make_scored(prob_covid=i / 50, decision="no_finding" if i % 3 == 0 else None)
    many = queries_for(north_client, url)
    second_page = queries_for(north_client, url, {"page": 2})
    assert few == many == second_page


def test_the_copied_sort_keys_follow_predictions_and_reviews(make_scored):
    screening = make_scored(prob_covid=0.42)
    row = Screening.objects.get(pk=screening.pk)
    assert row.triage_score == pytest.approx(0.42) and row.is_reviewed is False
    reviewed = make_scored(prob_covid=0.9, decision="no_finding")
    assert Screening.objects.get(pk=reviewed.pk).is_reviewed is True


def test_the_triage_order_is_unreviewed_first_then_highest_probability(
    make_scored, clinician_north
):
    done_high = make_scored(prob_covid=0.99, decision="no_finding")
    low = make_scored(prob_covid=0.10)
    high = make_scored(prob_covid=0.80)
    pending = make_scored(prob_covid=0.5)
    pending.prediction.delete()
    Screening.objects.filter(pk=pending.pk).update(triage_score=None)
    listed = list(selectors.triage_list_for_user(user=clinician_north))
    assert [s.pk for s in listed] == [high.pk, low.pk, pending.pk, done_high.pk]
    assert [s.reviewed for s in listed] == [False, False, False, True]


def test_keyset_pages_walk_the_whole_triage_order_once(make_scored, clinician_north):
    import datetime

    from django.utils import timezone

    start = timezone.now() - datetime.timedelta(hours=1)
    for i in range(23):
        screening = make_scored(
            prob_covid=(0.5 if i % 4 == 0 else i / 30),  # ties on the probability
            submitted_at=start + datetime.timedelta(minutes=i % 5),  # ties on the time too
            decision="no_finding" if i % 3 == 0 else None,
        )
        if i % 7 == 0:  # not scored yet: last among its review state
            screening.prediction.delete()
            Screening.objects.filter(pk=screening.pk).update(triage_score=None)
    for _ in range(6):  # a tie on everything but the id, across a page boundary
        make_scored(prob_covid=0.3, submitted_at=start)
    expected = [s.pk for s in selectors.triage_list_for_user(user=clinician_north)]
    walked, cursor = [], None
    while True:
        with CaptureQueriesContext(connection) as ctx:
            rows, cursor = selectors.triage_page_for_user(
                user=clinician_north, after=cursor, size=4
            )
        assert len(ctx.captured_queries) <= 2  # the user's regions, then the page
        walked += [s.pk for s in rows]
        if cursor is None:
            break
    assert walked == expected and len(expected) == 29
