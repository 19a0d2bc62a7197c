"""Keeping the dashboard's rollup (``RegionMonthRollup``) current.

- ``rollup_refresh``: the periodic refresh (Celery beat, ``maintenance`` queue). It finds the
  (top-level region, month) pairs with a screening changed (``updated_at``: every status
  transition, prediction and first review moves it) or a review written since the watermark,
  and rebuilds those pairs' rows with one grouped ``INSERT ... SELECT ... ON CONFLICT DO
  UPDATE``; idempotent, so re-reading a pair costs time, never correctness.
- ``rollup_refresh_if_due``: the same, from the dashboard's own request, where no beat runs (the
  embedded portal of ``make run``: tasks in-process, ``CELERY_TASK_ALWAYS_EAGER``), at most once
  per ``DASHBOARD_ROLLUP_INTERVAL_SECONDS``; a no-op in a deployment, where beat refreshes.
- ``rollup_backfill``: every month rebuilt, one transaction per month (the management command
  ``dashboard_rollup --full``, and the first refresh of a database).

The watermark is lowered by ``DASHBOARD_ROLLUP_LAG_SECONDS`` on each read: ``updated_at`` is
set when a statement runs, not when its transaction commits, and other hosts' clocks differ, so
a change committed just after the previous refresh started is still picked up. Rows of a pair
are replaced under an advisory lock (two refreshes never interleave); readers keep seeing the
previous rows until the transaction commits.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from screening.models import Screening

from . import rollup_sql
from .models import RollupState

STATE = "dashboard"


@dataclass(frozen=True)
class RefreshResult:
    full: bool
    pairs: int  # (top-level region, month) pairs rebuilt; months for a backfill
    seconds: float
    as_of: datetime.datetime


def _month_bounds(month: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    nxt = (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    start = timezone.make_aware(datetime.datetime.combine(month, datetime.time.min))
    end = timezone.make_aware(datetime.datetime.combine(nxt, datetime.time.min))
    return start, end


def _months_with_screenings() -> list[datetime.date]:
    bounds = Screening.objects.order_by("submitted_at").values_list("submitted_at", flat=True)
    first, last = bounds.first(), bounds.last()
    if first is None:
        return []
    month = timezone.localtime(first).date().replace(day=1)
    end = timezone.localtime(last).date().replace(day=1)
    months = []
    while month <= end:
        months.append(month)
        month = (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return months


def _state_save(*, watermark: datetime.datetime, seconds: float, keys: int) -> None:
    RollupState.objects.update_or_create(
        name=STATE,
        defaults={
            "watermark": watermark,
            "refreshed_at": watermark,
            "last_seconds": seconds,
            "last_keys": keys,
        },
    )


def rollup_backfill(*, progress=None) -> RefreshResult:
    """Rebuild every month's rows (one transaction per month, so the page keeps its figures
    while it runs); rows of months without screenings are deleted."""
    started, clock = timezone.now(), time.monotonic()
    if connection.vendor != "postgresql":
        from .rollup_python import rollup_rebuild_python

        rollup_rebuild_python(now=started)
        _state_save(watermark=started, seconds=time.monotonic() - clock, keys=0)
        return RefreshResult(True, 0, time.monotonic() - clock, started)
    months = _months_with_screenings()
    for month in months:
        start, end = _month_bounds(month)
        params = {"tz": settings.TIME_ZONE, "start": start, "end": end, "now": started}
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(rollup_sql.LOCK)
            cur.execute(rollup_sql.MONTH_DELETE, {"month": month})
            cur.execute(rollup_sql.UPSERT.format(where=rollup_sql.MONTH_WHERE), params)
        if progress:
            progress(month)
    from .models import RegionMonthRollup

    stale = RegionMonthRollup.objects.exclude(month__in=months)
    stale.delete()
    seconds = time.monotonic() - clock
    _state_save(watermark=started, seconds=seconds, keys=len(months))
    return RefreshResult(True, len(months), seconds, started)


def rollup_refresh() -> RefreshResult:
    """Rebuild the pairs changed since the last refresh (a backfill the first time)."""
    state = RollupState.objects.filter(name=STATE).first()
    if state is None:
        return rollup_backfill()
    started, clock = timezone.now(), time.monotonic()
    if connection.vendor != "postgresql":
        # The embedded SQLite portal is small: rebuild it all (same figures, plain Python).
        from .rollup_python import rollup_rebuild_python

        rollup_rebuild_python(now=started)
        _state_save(watermark=started, seconds=time.monotonic() - clock, keys=0)
        return RefreshResult(False, 0, time.monotonic() - clock, started)
    since = state.watermark - datetime.timedelta(seconds=settings.DASHBOARD_ROLLUP_LAG_SECONDS)
    params = {"tz": settings.TIME_ZONE, "since": since, "now": started}
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(rollup_sql.LOCK)
        cur.execute(rollup_sql.TOUCHED_DROP)
        cur.execute(rollup_sql.TOUCHED_CREATE, params)
        cur.execute(rollup_sql.TOUCHED_ANALYZE)
        cur.execute(rollup_sql.TOUCHED_COUNT)
        pairs, first_month = cur.fetchone()
        if pairs:
            params["start"] = _month_bounds(first_month)[0]
            cur.execute(rollup_sql.TOUCHED_DELETE)
            cur.execute(rollup_sql.UPSERT.format(where=rollup_sql.TOUCHED_WHERE), params)
        cur.execute(rollup_sql.TOUCHED_DROP)
        seconds = time.monotonic() - clock
        _state_save(watermark=started, seconds=seconds, keys=pairs)
    return RefreshResult(False, pairs, seconds, started)


def rollup_refresh_if_due(*, now: datetime.datetime | None = None) -> RefreshResult | None:
    """``rollup_refresh`` when nothing else will run it (no beat: tasks run in-process) and the
    last refresh is older than ``DASHBOARD_ROLLUP_INTERVAL_SECONDS``, the beat's own period, so
    the page's "figures as of" means the same in both; otherwise None."""
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        return None
    now = now or timezone.now()
    state = RollupState.objects.filter(name=STATE).only("refreshed_at").first()
    period = datetime.timedelta(seconds=settings.DASHBOARD_ROLLUP_INTERVAL_SECONDS)
    if state is not None and now - state.refreshed_at < period:
        return None
    return rollup_refresh()
