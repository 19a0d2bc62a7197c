"""The triage list costs the same number of SQL queries whatever the page holds, and keeps its
order on the copied sort keys (``Screening.triage_score`` / ``is_reviewed``)."""

from __future__ import annotations

import html

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


def next_link(client, url: str) -> str:
    """The page's "Next" link: the API's ``next``, the HTML page's ``rel="next"`` anchor."""
    response = client.get(url)
    if "/api/" in url:
        return response.json()["next"]
    href = response.content.decode().split('rel="next" id="page-next"')[0].rsplit('href="', 1)[1]
    return reverse("screening:triage") + html.unescape(href.split('"')[0])


@pytest.mark.parametrize(
    "url", [reverse("screening:triage"), "/api/v1/triage/"], ids=["page", "api"]
)
def test_a_triage_page_costs_the_same_queries_for_three_rows_or_twenty_five_and_on_later_pages(
    url, north_client, make_scored, clinician_north, settings, django_assert_num_queries
):
    for i in range(3):
        make_scored(prob_covid=0.1 + i / 10, decision="no_finding" if i == 0 else None)
    few = queries_for(north_client, url)
    for i in range(60):
        make_scored(prob_covid=i / 70, decision="no_finding" if i % 3 == 0 else None)
    many = queries_for(north_client, url)
    assert few == many
    second = next_link(north_client, url)
    third = next_link(north_client, second)
    for later in (second, third):  # keyset pages: no OFFSET, no COUNT(*), same queries
        with django_assert_num_queries(many):
            assert north_client.get(later).status_code == 200


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
            page = selectors.triage_page_for_user(user=clinician_north, after=cursor, size=4)
        assert len(ctx.captured_queries) <= 3  # the user's regions, the page, the capped count
        walked += [s.pk for s in page.rows]
        if page.next_cursor is None:
            break
        cursor = selectors.triage_cursor_decode(token=page.next_cursor)
    assert walked == expected and len(expected) == 29
    # ... and back again by the "Previous" cursors, page by page, to the first page.
    back = [s.pk for s in page.rows]
    while page.previous_cursor is not None:
        before = selectors.triage_cursor_decode(token=page.previous_cursor)
        page = selectors.triage_page_for_user(user=clinician_north, before=before, size=4)
        back = [s.pk for s in page.rows] + back
    assert back == expected


def _walk(user, *, size: int, between=None, filters=None) -> list:
    """Every page from the first by the "Next" cursors; ``between(n)`` runs after page n."""
    rows, token, n = [], None, 0
    while True:
        page = selectors.triage_page_from_tokens(
            user=user, filters=filters, after=token, before=None, size=size
        )
        rows += page.rows
        n += 1
        if between is not None:
            between(n)
        if page.next_cursor is None:
            return rows
        token = page.next_cursor


def test_paging_neither_repeats_nor_skips_rows_while_new_screenings_arrive(
    make_scored, clinician_north
):
    import datetime

    from django.utils import timezone

    start = timezone.now() - datetime.timedelta(hours=2)
    for i in range(17):
        make_scored(
            prob_covid=round((i % 6) / 6, 2),  # ties on the probability across pages
            submitted_at=start + datetime.timedelta(minutes=i % 4),
            decision="no_finding" if i % 5 == 0 else None,
        )
    original = {s.pk for s in selectors.triage_list_for_user(user=clinician_north)}
    arrived = []

    def arrive(n: int) -> None:  # after each page: one above everything, one below, one tied
        for p in (0.99, 0.01, 0.5):
            arrived.append(make_scored(prob_covid=p).pk)

    walked = _walk(clinician_north, size=4, between=arrive)
    ids = [s.pk for s in walked]
    assert len(ids) == len(set(ids))  # no row twice
    assert original <= set(ids)  # no row that was there from the start skipped
    keys = [selectors.triage_cursor(s) for s in walked]
    assert keys == sorted(keys, key=lambda k: (k[0], k[1], k[2], k[3]))  # one order throughout
    assert set(ids) - original <= set(arrived)


def test_a_crafted_cursor_never_shows_another_regions_screening(
    api_client, north_client, make_scored, clinician_north, settings
):
    settings.TRIAGE_PAGE_SIZE = 2
    south = [make_scored(region="SOUTH-01", prob_covid=p) for p in (0.95, 0.9, 0.2)]
    north = [make_scored(region="NORTH-01", prob_covid=p) for p in (0.93, 0.5, 0.1)]
    api_client.force_authenticate(clinician_north)
    for row in south:  # validly signed cursors placed on, and just before, the south rows
        token = selectors.triage_cursor_encode(screening=row)
        for param in ("after", "before"):
            body = api_client.get("/api/v1/triage/", {param: token}).json()
            page = north_client.get(reverse("screening:triage"), {param: token}).content.decode()
            assert {r["region"] for r in body["results"]} <= {"NORTH-01"}
            assert not any(s.reference in page for s in south)
    listed = _walk(clinician_north, size=2)
    assert {s.pk for s in listed} == {s.pk for s in north}


@pytest.mark.parametrize("reviewed", [True, False])
def test_keyset_pages_with_the_review_state_fixed_walk_both_ways(
    make_scored, clinician_north, reviewed
):
    # With the review filter the cursor compares the key without its first part (an index
    # range that PostgreSQL can position backwards, BENCHMARKS.md); the order must not change.
    for i in range(14):
        make_scored(prob_covid=(i % 4) / 4, decision="no_finding" if i % 2 else None)
    filters = selectors.TriageFilters(reviewed=reviewed)
    expected = [s.pk for s in selectors.triage_list_for_user(user=clinician_north, filters=filters)]
    forward = _walk(clinician_north, size=3, filters=filters)
    assert [s.pk for s in forward] == expected and len(expected) == 7
    other = selectors.triage_cursor(  # a cursor taken from a row of the other review state
        next(
            s
            for s in selectors.triage_list_for_user(user=clinician_north)
            if s.reviewed != reviewed
        )
    )
    after = selectors.triage_page_for_user(
        user=clinician_north, filters=filters, after=other, size=10
    )
    assert [s.pk for s in after.rows] == (expected if reviewed else [])  # False < True
    page = selectors.triage_page_for_user(
        user=clinician_north, filters=filters, after=selectors.triage_cursor(forward[-2]), size=3
    )
    back = [s.pk for s in page.rows]
    while page.previous_cursor is not None:
        before = selectors.triage_cursor_decode(token=page.previous_cursor)
        page = selectors.triage_page_for_user(
            user=clinician_north, filters=filters, before=before, size=3
        )
        back = [s.pk for s in page.rows] + back
    assert back == expected


def plan_without(sql: str, *scans: str) -> str:
    """PostgreSQL's plan for ``sql`` with the named scan kinds switched off for this transaction
    (``enable_<scan> = off``): on a tiny test table the planner prefers them whatever indexes exist,
    so what is left shows whether an index can serve the query."""
    with connection.cursor() as cur:
        for scan in scans:
            cur.execute(f"SET LOCAL enable_{scan} = off")
        cur.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cur.fetchall())


@pytest.mark.parametrize("reviewed", [True, False, None])
def test_a_regions_capped_count_can_be_read_from_the_triage_index_alone(
    reviewed, make_scored, clinician_north
):
    """At 10 M rows the count of a province's reviewed list read the heap for every candidate
    (62-94 ms; migration 0006 adds ``status`` to the index). Only index-only scans are left
    to the planner, so a small test table shows whether an index can serve the count alone."""
    for i in range(5):
        make_scored(prob_covid=i / 10, decision="no_finding" if i % 2 else None)
    filters = selectors.TriageFilters(status="completed", reviewed=reviewed)
    with CaptureQueriesContext(connection) as ctx:
        selectors.triage_page_for_user(user=clinician_north, filters=filters)
    (count_sql,) = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"]]
    plan = plan_without(count_sql, "seqscan", "bitmapscan", "indexscan")
    assert "Index Only Scan" in plan, plan


def test_the_pending_lists_newest_ids_can_be_read_from_the_pending_index_alone(
    make_scored, screening_factory, clinician_north
):
    """At 10 M rows the busiest district's pending list read ~2,000 rows and sorted them (11.8
    ms inside PostgreSQL); its ids now come from ``screening_pending_region`` (migration 0007).
    PostgreSQL uses that partial index only if it can prove the list's ``status IN (...)``
    implies the index's predicate, so this fails if the statuses and the predicate drift apart."""
    make_scored()
    for status in ("queued", "failed", "rejected"):
        screening_factory(status=status)
    with CaptureQueriesContext(connection) as ctx:
        list(selectors.pending_list_for_user(user=clinician_north))
    (listed_sql,) = [q["sql"] for q in ctx.captured_queries if "screening_screening" in q["sql"]]
    plan = plan_without(listed_sql, "seqscan", "bitmapscan")
    assert "Index Only Scan Backward using screening_pending_region" in plan, plan


def test_the_pending_list_shows_the_newest_not_scored_screenings_up_to_its_limit(
    make_scored, screening_factory, clinician_north
):
    import datetime

    from django.utils import timezone

    now = timezone.now()
    make_scored(submitted_at=now)
    waiting = [
        screening_factory(status=status, submitted_at=now - datetime.timedelta(minutes=m))
        for m, status in ((5, "failed"), (1, "queued"), (9, "rejected"), (3, "processing"))
    ]
    listed = selectors.pending_list_for_user(user=clinician_north, limit=3)
    assert [s.pk for s in listed] == [waiting[i].pk for i in (1, 3, 0)]


def test_a_name_search_in_the_users_regions_can_be_served_by_the_region_and_name_index(
    make_scored, clinician_north, superuser
):
    """At 10 M rows a full-name search in the busiest district ANDed two big bitmaps (478 ms);
    migration 0008's GIN index on (region, name trigrams) serves region and name in one scan.
    Its operator for the region column compares bigint with bigint only (btree_gin before
    PostgreSQL 18), so this fails if the region ids reach the query as plain integers. A search
    over every region has no region condition and must not use it (partial index)."""
    from screening import people

    make_scored()
    # On a tiny table any index on the region wins; the other ones are dropped inside this
    # test's transaction (rolled back after it) to see whether the new one can serve the query.
    with connection.cursor() as cur:
        cur.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'screening_screening' "
            "AND indexdef LIKE '%(region_id%' AND indexname <> 'screening_region_full_name_trgm'"
        )
        for (name,) in cur.fetchall():
            cur.execute(f'DROP INDEX "{name}"')

    def name_search_plan(user) -> str:
        with CaptureQueriesContext(connection) as ctx:
            people.screening_search(user=user, query="Patient Number")
        sql = [q["sql"] for q in ctx.captured_queries if "LIKE" in q["sql"]][-1]
        return plan_without(sql, "seqscan", "indexscan")

    scoped = name_search_plan(clinician_north).splitlines()
    (scan,) = [i for i, line in enumerate(scoped) if "on screening_region_full_name_trgm" in line]
    # The region is a condition of the index scan itself, not a filter on what it returns.
    assert "region_id" in scoped[scan + 1] and "Index Cond" in scoped[scan + 1], scoped
    assert "screening_region_full_name_trgm" not in name_search_plan(superuser)
