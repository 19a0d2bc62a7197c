"""The national dashboard and model watch against a hand-computed fixture.

Fixture (months relative to today: M1 two months ago, M2 last month):

NORTH-01, M2 — 14 screenings:
  judged "COVID-19 suspected": p = 0.90, 0.80, 0.75, 0.72 (high) and 0.20 (low)  → TP 4, FN 1
  judged otherwise: no finding p = 0.10, 0.20, 0.05; pneumonia (other) p = 0.95, 0.71 → TN 3, FP 2
  "image unusable" p = 0.90 (left out of the model watch); completed, unreviewed, high p = 0.85
  (the backlog); one queued; one failed.
  Upload-to-result of the 12 completed: 1..12 min → median 6.5 min = 390 s.
  Upload-to-review of the 11 reviewed: 1..11 h → median 6 h = 21600 s.
  Predicted labels: 8 covid, 3 normal, 1 pneumonia (p = 0.05, labelled pneumonia).
NORTH-02, M1: suspected p = 0.90 (TP), no finding p = 0.10 (TN).
SOUTH-01, M2: suspected p = 0.10, 0.20 (FN 2), 0.95 (TP 1); no finding p = 0.80 (FP 1).

Hand computation (Wilson 95 %, z = 1.96): 4/5 → 80.0 % (37.55–96.38); 3/5 → 60.0 %
(23.07–88.24); NORTH as a province in M2 = NORTH-01; NORTH overall: sensitivity 5/6 = 83.33 %
(43.65–96.99), specificity 4/6 = 66.67 % (30.00–90.32): both intervals reach the model card's
95.9 % / 75.3 %, no warning. SOUTH: sensitivity 1/3 = 33.33 % (6.15–79.23) < 95.9 %: warning.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.test import override_settings

from dashboard import selectors, services, stats

from .conftest import _month_start


def _scope(user, region=None):
    return selectors.scope_build(region_code=region, months=12, user=user)


def test_the_overview_matches_the_hand_computed_counts_shares_and_medians(fixture_data, superuser):
    summaries = selectors.dashboard_overview(user=superuser, scope=_scope(superuser, "NORTH"))
    by_code = {s.region.code: s for s in summaries}
    assert sorted(by_code) == ["NORTH-01", "NORTH-02"]
    (row,) = by_code["NORTH-01"].rows
    assert row.month == fixture_data["m2"]
    assert (row.submitted, row.completed, row.pending, row.failed, row.rejected) == (
        14,
        12,
        1,
        1,
        0,
    )
    assert row.predicted == {"covid": 8, "normal": 3, "pneumonia": 1}
    assert row.share("covid") == pytest.approx(8 / 12)
    assert row.median_result_seconds == pytest.approx(390.0)
    assert row.median_review_seconds == pytest.approx(21600.0)
    assert by_code["NORTH-01"].backlog_high_unreviewed == 1
    assert by_code["NORTH-02"].backlog_high_unreviewed == 0
    assert [r.month for r in by_code["NORTH-02"].rows] == [fixture_data["m1"]]

    national = {
        s.region.code: s
        for s in selectors.dashboard_overview(user=superuser, scope=_scope(superuser))
    }
    assert sorted(national) == ["NORTH", "SOUTH"]  # districts grouped into their province
    assert national["NORTH"].totals.submitted == 16
    assert national["SOUTH"].totals.submitted == 4


def test_model_watch_matches_the_hand_computed_agreement_and_wilson_intervals(
    fixture_data, superuser
):
    watch = {
        w.region.code: w
        for w in selectors.model_watch(user=superuser, scope=_scope(superuser, "NORTH"))
    }
    north01 = watch["NORTH-01"].overall
    assert (north01.true_positive, north01.false_negative) == (4, 1)
    assert (north01.true_negative, north01.false_positive) == (3, 2)
    assert north01.sensitivity.value == pytest.approx(0.8)
    assert north01.sensitivity.interval == pytest.approx((0.3755, 0.9638), abs=1e-4)
    assert north01.specificity.interval == pytest.approx((0.2307, 0.8824), abs=1e-4)

    national = {
        w.region.code: w for w in selectors.model_watch(user=superuser, scope=_scope(superuser))
    }
    north, south = national["NORTH"], national["SOUTH"]
    assert north.overall.sensitivity.interval == pytest.approx((0.4365, 0.9699), abs=1e-4)
    assert north.overall.specificity.interval == pytest.approx((0.3000, 0.9032), abs=1e-4)
    assert north.warning is False
    assert south.overall.sensitivity.value == pytest.approx(1 / 3)
    assert south.overall.sensitivity.interval == pytest.approx((0.0615, 0.7923), abs=1e-4)
    assert south.warning is True
    assert [w.month for w in north.rows] == [fixture_data["m1"], fixture_data["m2"]]


def test_the_page_makes_the_same_few_queries_however_much_data_there_is(
    fixture_data, superuser_client, screening_factory, prediction_factory, regions
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = superuser_client.get("/dashboard/?months=12")
        assert response.status_code == 200
        return len(ctx.captured_queries)

    before = count()
    for months_back in range(3, 9):  # more months and another province's district
        for region in ("SOUTH-02", "NORTH-02"):
            s = screening_factory(region=regions[region], submitted_at=_month_start(months_back))
            prediction_factory(screening=s, prob_covid=0.5)
    assert count() == before
    assert before <= 10, before  # session, user, 3 overview + 2 model-watch reads, as-of


def test_the_selectors_read_with_a_fixed_number_of_queries(
    fixture_data, superuser, django_assert_num_queries
):
    scope = _scope(superuser)
    # On the rollup: region names, the period's rows (counts and medians), the backlog. (Before
    # the rollup: 4, with the medians a separate aggregation of the screenings.)
    with django_assert_num_queries(3):
        selectors.dashboard_overview(user=superuser, scope=scope)
    with django_assert_num_queries(2):  # region names, the period's agreement counts
        selectors.model_watch(user=superuser, scope=scope)


def test_the_page_shows_the_numbers_the_warning_and_drills_down(fixture_data, superuser_client):
    page = superuser_client.get("/dashboard/").content.decode()
    assert 'data-region="NORTH"' in page and 'data-region="SOUTH"' in page
    assert "<svg" in page and "Screenings per month by status" in page
    assert page.count("model-warning") == 1  # SOUTH only
    assert "83.3% (43.6–97.0)" in page  # NORTH: 5/6, Wilson 0.43649–0.96993
    drill = superuser_client.get("/dashboard/?region=NORTH").content.decode()
    assert 'data-region="NORTH-01"' in drill and 'data-region="SOUTH"' not in drill
    assert "80.0% (37.6–96.4)" in drill


def test_a_clinician_sees_only_their_regions_and_cannot_drill_elsewhere(
    fixture_data, south_client, client, plain_user
):
    page = south_client.get("/dashboard/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-region="SOUTH"' in html and 'data-region="NORTH"' not in html
    assert south_client.get("/dashboard/?region=NORTH-01").status_code == 404
    assert client.get("/dashboard/").status_code == 302  # sign in first
    client.force_login(plain_user)
    assert client.get("/dashboard/").status_code == 404  # no clinician regions, no admin


def test_the_csv_export_has_one_row_per_region_and_month_and_is_audited(
    fixture_data, superuser_client
):
    from portal.audit.models import AuditEvent

    response = superuser_client.get("/dashboard/export.csv?region=NORTH")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["region_code"], r["month"]) for r in rows] == [
        ("NORTH-01", fixture_data["m2"].strftime("%Y-%m")),
        ("NORTH-02", fixture_data["m1"].strftime("%Y-%m")),
    ]
    north01 = rows[0]
    assert (north01["submitted"], north01["completed"], north01["failed"]) == ("14", "12", "1")
    assert north01["median_upload_to_result_seconds"] == "390.0000"
    assert north01["high_band_sensitivity"] == "0.8000"
    assert north01["high_band_sensitivity_low95"] == "0.3755"
    event = AuditEvent.objects.filter(action="dashboard.export_csv").get()
    assert event.object_ref == "NORTH" and event.detail["rows"] == 2


@override_settings(DASHBOARD_THRESHOLD_MIN_REVIEWED=10, DASHBOARD_THRESHOLD_MIN_POSITIVE=5)
def test_a_threshold_proposal_is_computed_from_the_regions_reviews_and_previewed(
    fixture_data, superuser_client, regions
):
    proposal = services.region_thresholds_propose(region=regions["NORTH-01"])
    # positives 0.90 0.80 0.75 0.72 0.20: keeping 95.9 % of 5 means all 5 → high = 0.20
    assert (proposal.reviewed, proposal.positive) == (10, 5)
    assert proposal.high == pytest.approx(0.20) and proposal.medium == pytest.approx(0.20)
    a = proposal.proposed_agreement
    assert (a.true_positive, a.false_negative, a.true_negative, a.false_positive) == (5, 0, 2, 3)
    assert proposal.backlog_moves["high"] == {"high": 1, "medium": 0, "low": 0}

    page = superuser_client.get("/dashboard/thresholds/NORTH-01/").content.decode()
    assert 'id="row-proposed"' in page and "0.2000" in page and "apply-thresholds" in page


def test_thresholds_are_refused_below_the_minimum_count(fixture_data, superuser_client, regions):
    from dashboard.models import RegionBandThreshold

    page = superuser_client.get("/dashboard/thresholds/NORTH-01/").content.decode()
    assert 'id="not-enough"' in page and "at least 200 reviewed" in page
    response = superuser_client.post("/dashboard/thresholds/NORTH-01/")
    assert response.status_code == 302
    assert not RegionBandThreshold.objects.exists()


@override_settings(DASHBOARD_THRESHOLD_MIN_REVIEWED=10, DASHBOARD_THRESHOLD_MIN_POSITIVE=5)
def test_applying_thresholds_needs_an_administrator_keeps_history_and_is_audited(
    fixture_data, superuser_client, north_client, regions
):
    from dashboard.models import RegionBandThreshold
    from portal.audit.models import AuditEvent

    assert north_client.get("/dashboard/thresholds/NORTH-01/").status_code == 404
    assert north_client.post("/dashboard/thresholds/NORTH-01/").status_code == 404
    assert not RegionBandThreshold.objects.exists()

    for _ in range(2):
        assert superuser_client.post("/dashboard/thresholds/NORTH-01/").status_code == 302
    current = RegionBandThreshold.objects.get(is_current=True)
    assert current.high == pytest.approx(0.20) and current.based_on_reviewed == 10
    assert RegionBandThreshold.objects.count() == 2  # the first one kept as history
    events = AuditEvent.objects.filter(action="band_thresholds.apply")
    assert events.count() == 2 and events.first().object_ref == "NORTH-01"
    assert selectors.band_thresholds_for_region(region_id=regions["NORTH-01"].pk) == current
    assert selectors.band_thresholds_for_region(region_id=regions["NORTH-02"].pk) is None
    # new predictions of NORTH-01 are banded by them; NORTH-02 keeps the model's own band
    assert (
        selectors.priority_for_region(
            region_id=regions["NORTH-01"].pk, covid_probability=0.25, default="low"
        )
        == "high"
    )
    assert (
        selectors.priority_for_region(
            region_id=regions["NORTH-01"].pk, covid_probability=0.1, default="high"
        )
        == "low"
    )
    assert (
        selectors.priority_for_region(
            region_id=regions["NORTH-02"].pk, covid_probability=0.25, default="medium"
        )
        == "medium"
    )


def test_wilson_intervals_and_medians_on_edge_cases():
    assert stats.wilson_interval(0, 0) is None
    low, high = stats.wilson_interval(5, 5)
    assert high == 1.0 and low == pytest.approx(0.5655, abs=1e-4)
    assert stats.median([3, 1, 2]) == 2 and stats.median([4, 1, 2, 3]) == 2.5
    assert stats.median([]) is None
    assert stats.threshold_for_sensitivity([0.9, 0.5, 0.1, 0.3], 0.75) == 0.3
