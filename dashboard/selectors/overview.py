"""The dashboard's overview: per region group and month, volumes, predicted labels, medians,
and the high-priority backlog, read from the rollup (a fixed number of small queries)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import QuerySet, Sum

from screening.models import Region

from .. import stats
from ..models import RegionMonthRollup, RollupState
from .common import LABELS, Groups, Scope, groups_build

STATUS_COUNTS = ("submitted", "completed", "pending", "failed", "rejected")
COUNTED = (*STATUS_COUNTS, *(f"predicted_{label}" for label in LABELS))
MEDIANS = ("median_result_seconds", "median_review_seconds")


# --- overview ---------------------------------------------------------------------------------
@dataclass
class PeriodRow:
    region_id: int
    month: datetime.date
    submitted: int = 0
    completed: int = 0
    pending: int = 0
    failed: int = 0
    rejected: int = 0
    predicted: dict[str, int] = field(default_factory=dict)
    median_result_seconds: float | None = None
    median_review_seconds: float | None = None

    def share(self, label: str) -> float | None:
        total = sum(self.predicted.values())
        return self.predicted.get(label, 0) / total if total else None


@dataclass
class RegionSummary:
    region: Region
    rows: list[PeriodRow]
    backlog_high_unreviewed: int
    drillable: bool

    @property
    def totals(self) -> PeriodRow:
        total = PeriodRow(region_id=self.region.pk, month=datetime.date.min)
        for row in self.rows:
            for name in ("submitted", "completed", "pending", "failed", "rejected"):
                setattr(total, name, getattr(total, name) + getattr(row, name))
            for label, n in row.predicted.items():
                total.predicted[label] = total.predicted.get(label, 0) + n
        return total


def _rows(*, groups: Groups, scope: Scope) -> QuerySet[RegionMonthRollup]:
    return RegionMonthRollup.objects.filter(groups.rows_filter(), month__gte=scope.since.date())


def _period_rows(*, groups: Groups, scope: Scope) -> dict[tuple[int, datetime.date], PeriodRow]:
    """Rollup rows summed into (group, month). A group made of one row keeps that row's exact
    medians; one made of several (some districts of a province) reads them from the merged
    histograms (within ``stats.BUCKET_HALF_STEP``), fetched in one more query only then."""
    rows: dict[tuple[int, datetime.date], PeriodRow] = {}
    parts: dict[tuple[int, datetime.date], list[int]] = {}
    for r in _rows(groups=groups, scope=scope).values(
        "pk", "region_id", "subtree", "month", *COUNTED, *MEDIANS
    ):
        key = (groups.group_of(region_id=r["region_id"], subtree=r["subtree"]), r["month"])
        row = rows.setdefault(key, PeriodRow(region_id=key[0], month=key[1]))
        for name in STATUS_COUNTS:
            setattr(row, name, getattr(row, name) + r[name])
        for label in LABELS:
            row.predicted[label] = row.predicted.get(label, 0) + r[f"predicted_{label}"]
        row.median_result_seconds = r["median_result_seconds"]
        row.median_review_seconds = r["median_review_seconds"]
        parts.setdefault(key, []).append(r["pk"])
    combined = {pk: key for key, pks in parts.items() if len(pks) > 1 for pk in pks}
    if combined:
        histograms: dict[tuple[int, datetime.date], list] = {}
        for pk, result, review in RegionMonthRollup.objects.filter(pk__in=combined).values_list(
            "pk", "result_histogram", "review_histogram"
        ):
            histograms.setdefault(combined[pk], []).append((result, review))
        for key, pairs in histograms.items():
            rows[key].median_result_seconds = stats.histogram_median(
                stats.histogram_merge(p[0] for p in pairs)
            )
            rows[key].median_review_seconds = stats.histogram_median(
                stats.histogram_merge(p[1] for p in pairs)
            )
    return rows


def dashboard_overview(*, user, scope: Scope) -> list[RegionSummary]:
    """Per region group: monthly rows (oldest first) and the high-priority backlog, from the
    rollup (``dashboard.rollups``): region names, the period's rows, and the backlog (every
    month's rows) -- three small queries whatever the number of screenings (a fourth, the
    histograms, where a group combines several regions' rows)."""
    groups = groups_build(user=user, scope=scope)
    rows = _period_rows(groups=groups, scope=scope)
    backlog: dict[int, int] = {}
    for region_id, subtree, n in (
        RegionMonthRollup.objects.filter(groups.rows_filter(), high_unreviewed__gt=0)
        .values("region_id", "subtree")
        .annotate(n=Sum("high_unreviewed"))
        .values_list("region_id", "subtree", "n")
        .order_by()
    ):
        group = groups.group_of(region_id=region_id, subtree=subtree)
        backlog[group] = backlog.get(group, 0) + n
    region_ids = {key[0] for key in rows} | set(backlog)
    summaries = []
    for rid in sorted(region_ids, key=lambda i: groups.regions[i].code):
        region_rows = sorted((r for (g, _), r in rows.items() if g == rid), key=lambda r: r.month)
        summaries.append(
            RegionSummary(
                region=groups.regions[rid],
                rows=region_rows,
                backlog_high_unreviewed=backlog.get(rid, 0),
                drillable=scope.region is None,
            )
        )
    return summaries


def rollup_as_of() -> datetime.datetime | None:
    """When the figures were last refreshed (None: never, the page says so)."""
    state = RollupState.objects.filter(name="dashboard").only("refreshed_at").first()
    return state.refreshed_at if state else None
