"""The dashboard's rollup (dashboard/rollups.py): built from the screenings, refreshed from a
watermark, idempotent, and what the selectors read (the fixture is described in
test_dashboard.py; it ends with a backfill)."""

from __future__ import annotations

import datetime

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from dashboard import rollups, selectors, stats
from dashboard.models import RegionMonthRollup, RollupState

pytestmark = pytest.mark.django_db

VOLATILE = {"id", "refreshed_at"}


def _snapshot() -> dict:
    return {
        (r["region_id"], r["month"], r["subtree"]): {
            k: v for k, v in r.items() if k not in VOLATILE
        }
        for r in RegionMonthRollup.objects.values()
    }


def _row(regions, code, month, *, subtree=False) -> RegionMonthRollup:
    return RegionMonthRollup.objects.get(region=regions[code], month=month, subtree=subtree)


def _scope(user, region=None):
    return selectors.scope_build(region_code=region, months=12, user=user)


def test_the_rollup_holds_the_hand_computed_rows_per_region_and_per_province(fixture_data, regions):
    north01 = _row(regions, "NORTH-01", fixture_data["m2"])
    assert (north01.submitted, north01.completed, north01.pending, north01.failed) == (14, 12, 1, 1)
    assert (north01.watch_tp, north01.watch_fn, north01.watch_fp, north01.watch_tn) == (4, 1, 2, 3)
    assert (north01.high_unreviewed, north01.reviewed) == (1, 11)
    assert north01.median_result_seconds == pytest.approx(390.0)
    assert sum(north01.result_histogram.values()) == 12
    assert sum(north01.review_histogram.values()) == 11
    north = _row(regions, "NORTH", fixture_data["m2"], subtree=True)
    assert north.submitted == 14  # NORTH-02 has nothing in M2
    assert _row(regions, "NORTH", fixture_data["m1"], subtree=True).submitted == 2
    assert not RegionMonthRollup.objects.filter(region=regions["NORTH-01"], subtree=True).exists()


def test_refreshing_again_or_rebuilding_gives_the_same_rows(fixture_data):
    before = _snapshot()
    assert rollups.rollup_refresh().full is False
    assert _snapshot() == before
    rollups.rollup_backfill()
    assert _snapshot() == before


@override_settings(DASHBOARD_ROLLUP_LAG_SECONDS=0)
def test_a_refresh_rebuilds_only_the_pairs_changed_since_the_watermark(fixture_data, regions):
    from screening.models import Screening

    assert rollups.rollup_refresh().pairs == 0  # nothing changed since the backfill
    queued = Screening.objects.get(region=regions["NORTH-01"], status="queued")
    Screening.objects.filter(pk=queued.pk).update(
        status="completed", completed_at=queued.submitted_at + datetime.timedelta(minutes=13)
    )
    result = rollups.rollup_refresh()
    assert result.pairs == 1  # NORTH, M2
    row = _row(regions, "NORTH-01", fixture_data["m2"])
    assert (row.completed, row.pending) == (13, 0)
    assert row.median_result_seconds == pytest.approx(420.0)  # 1..13 min
    assert RollupState.objects.get().watermark == result.as_of


@override_settings(DASHBOARD_ROLLUP_LAG_SECONDS=0)
def test_a_review_written_after_the_watermark_moves_the_backlog_and_the_model_watch(
    fixture_data, regions, superuser
):
    from screening.models import Screening
    from screening.services import review_create

    backlog = Screening.objects.get(
        region=regions["NORTH-01"], reviews__isnull=True, status="completed"
    )
    review_create(user=superuser, screening_id=backlog.pk, decision="no_finding")  # high: an FP
    # and a changed decision on a reviewed screening (a second review; is_reviewed stays True)
    south = Screening.objects.get(region=regions["SOUTH-01"], prediction__prob_covid=0.80)
    review_create(user=superuser, screening_id=south.pk, decision="covid_suspected")

    assert rollups.rollup_refresh().pairs == 2  # NORTH M2 and SOUTH M2
    north01 = _row(regions, "NORTH-01", fixture_data["m2"])
    assert (north01.high_unreviewed, north01.watch_fp, north01.reviewed) == (0, 3, 12)
    south01 = _row(regions, "SOUTH-01", fixture_data["m2"])
    assert (south01.watch_tp, south01.watch_fp) == (2, 0)
    summaries = selectors.dashboard_overview(user=superuser, scope=_scope(superuser, "NORTH"))
    assert {s.region.code: s.backlog_high_unreviewed for s in summaries}["NORTH-01"] == 0


def test_the_sql_and_the_python_rollups_agree(fixture_data):
    from dashboard.rollup_python import rollup_rebuild_python

    by_sql = _snapshot()
    rollup_rebuild_python(now=timezone.now())
    by_python = _snapshot()
    assert by_python.keys() == by_sql.keys()
    for key, row in by_sql.items():
        for name, value in row.items():
            expected = pytest.approx(value) if isinstance(value, float) else value
            assert by_python[key][name] == expected, (key, name)


def test_a_district_clinician_sees_only_their_district_in_the_national_view(
    fixture_data, clinician_south, clinician_north
):
    (south,) = selectors.dashboard_overview(user=clinician_south, scope=_scope(clinician_south))
    assert south.region.code == "SOUTH" and south.totals.submitted == 4  # SOUTH-01's own
    (watch,) = selectors.model_watch(user=clinician_south, scope=_scope(clinician_south))
    assert watch.region.code == "SOUTH" and watch.overall.total == 4
    (north,) = selectors.dashboard_overview(user=clinician_north, scope=_scope(clinician_north))
    assert north.region.code == "NORTH" and north.totals.submitted == 14  # not NORTH-02's 2
    assert north.backlog_high_unreviewed == 1


def test_a_group_of_several_districts_reads_its_medians_from_the_histograms(
    fixture_data, regions, make_clinician, screening_factory
):
    from dashboard.rollups import rollup_refresh

    both = make_clinician("clinician.two", "NORTH-01", "NORTH-02")
    late = fixture_data["m2"]
    when = timezone.make_aware(datetime.datetime.combine(late, datetime.time(9))) + (
        datetime.timedelta(days=3)
    )
    s = screening_factory(region=regions["NORTH-02"], submitted_at=when, status="completed")
    type(s).objects.filter(pk=s.pk).update(completed_at=when + datetime.timedelta(minutes=20))
    rollup_refresh()
    (north,) = selectors.dashboard_overview(user=both, scope=_scope(both))
    row = north.rows[-1]
    assert row.submitted == 15
    exact = 420.0  # 1..12 min and 20 min: the 7th of 13
    assert row.median_result_seconds == pytest.approx(exact, rel=stats.BUCKET_HALF_STEP)
    assert row.median_result_seconds != pytest.approx(exact)  # a bucket's value, not the exact


def test_the_page_says_how_fresh_the_figures_are(fixture_data, superuser_client):
    page = superuser_client.get("/dashboard/").content.decode()
    as_of = timezone.localtime(RollupState.objects.get().refreshed_at)
    assert f"Figures as of {as_of:%H:%M}" in page
    chinese = superuser_client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert f"数据截至 {as_of:%H:%M}" in chinese.content.decode()
    RollupState.objects.all().delete()
    page = superuser_client.get("/dashboard/").content.decode()
    assert "The figures have not been computed yet" in page


def test_the_command_backfills_and_the_beat_refreshes_on_the_maintenance_queue(
    fixture_data, settings
):
    from portal.celery import app

    RegionMonthRollup.objects.all().delete()
    call_command("dashboard_rollup", "--full", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert RegionMonthRollup.objects.count() == 6  # 3 own rows, 3 province rows
    entry = app.conf.beat_schedule["refresh-dashboard-rollup"]
    assert entry["task"] == "dashboard.rollup_refresh"
    assert entry["options"]["queue"] == settings.MAINTENANCE_QUEUE
    assert settings.CELERY_TASK_ROUTES["dashboard.rollup_refresh"]["queue"] == "maintenance"

    from dashboard.tasks import rollup_refresh

    assert rollup_refresh.run()["full"] is False


def test_an_erased_screening_leaves_the_figures_at_the_nightly_backfill(
    fixture_data, regions, settings
):
    from portal.celery import app
    from portal.security.erasure import screening_erase
    from screening.models import Screening

    entry = app.conf.beat_schedule["backfill-dashboard-rollup"]
    assert entry["task"] == "dashboard.rollup_backfill"
    assert entry["options"]["queue"] == settings.MAINTENANCE_QUEUE
    assert settings.CELERY_TASK_ROUTES["dashboard.rollup_backfill"]["queue"] == "maintenance"
    month = fixture_data["m2"]
    settings.DASHBOARD_ROLLUP_LAG_SECONDS = 0  # only changes after the last refresh count
    rollups.rollup_refresh()
    before = _row(regions, "NORTH-01", month).submitted
    start = timezone.make_aware(datetime.datetime.combine(month, datetime.time()))
    victim = Screening.objects.filter(region=regions["NORTH-01"], submitted_at__gte=start).first()
    screening_erase(screening_id=victim.pk, reason="patient request")
    rollups.rollup_refresh()
    assert _row(regions, "NORTH-01", month).submitted == before  # nothing left to see

    from dashboard.tasks import rollup_backfill

    assert rollup_backfill.run()["full"] is True
    assert _row(regions, "NORTH-01", month).submitted == before - 1


def _embedded_page(client) -> tuple[str, datetime.datetime | None]:
    page = client.get("/dashboard/").content.decode()
    state = RollupState.objects.filter(name=rollups.STATE).first()
    return page, state and state.refreshed_at


def test_without_a_beat_the_page_refreshes_its_figures_at_most_once_per_interval(
    regions, screening_factory, prediction_factory, superuser_client, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the embedded portal of `make run`
    settings.DASHBOARD_ROLLUP_INTERVAL_SECONDS = 300
    prediction_factory(screening=screening_factory(region=regions["NORTH-01"], status="completed"))
    page, first = _embedded_page(superuser_client)
    assert first is not None and 'data-region="NORTH"' in page
    assert "have not been computed yet" not in page

    prediction_factory(screening=screening_factory(region=regions["SOUTH-01"], status="completed"))
    page, again = _embedded_page(superuser_client)
    assert again == first and 'data-region="SOUTH"' not in page  # within the beat's period

    settings.DASHBOARD_ROLLUP_INTERVAL_SECONDS = 0
    page, later = _embedded_page(superuser_client)
    assert later > first and 'data-region="SOUTH"' in page


def test_in_a_deployment_the_page_leaves_the_refresh_to_beat(
    regions, screening_factory, prediction_factory, superuser_client, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    prediction_factory(screening=screening_factory(region=regions["NORTH-01"], status="completed"))
    page, refreshed = _embedded_page(superuser_client)
    assert refreshed is None and "have not been computed yet" in page
