"""The dashboard's overview: per region group and month, volumes, predicted labels, medians,
and the high-priority backlog (a fixed number of grouped queries)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
)
from django.db.models.functions import TruncMonth

from screening.models import PENDING_STATUSES, Region, Screening

from .. import stats
from .common import LABELS, Median, Scope, _base, _group_key, _month, _with_current_review


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


def _result_duration():
    return ExpressionWrapper(F("completed_at") - F("submitted_at"), output_field=DurationField())


def _review_duration():
    return ExpressionWrapper(
        F("current_review__created_at") - F("submitted_at"), output_field=DurationField()
    )


def dashboard_overview(*, user, scope: Scope) -> list[RegionSummary]:
    """Per region group: monthly rows (oldest first) and the high-priority backlog."""
    base = _base(user=user, scope=scope)
    recent = _with_current_review(base.filter(submitted_at__gte=scope.since)).annotate(
        group=_group_key(scope), month=TruncMonth("submitted_at")
    )
    counts = (
        recent.values("group", "month")
        .annotate(
            submitted=Count("pk"),
            completed=Count("pk", filter=Q(status="completed")),
            pending=Count("pk", filter=Q(status__in=PENDING_STATUSES)),
            failed=Count("pk", filter=Q(status="failed")),
            rejected=Count("pk", filter=Q(status="rejected")),
            **{f"label_{c}": Count("pk", filter=Q(prediction__label=c)) for c in LABELS},
        )
        .order_by()
    )
    rows: dict[tuple[int, datetime.date], PeriodRow] = {}
    for r in counts:
        key = (r["group"], _month(r["month"]))
        rows[key] = PeriodRow(
            region_id=r["group"],
            month=key[1],
            submitted=r["submitted"],
            completed=r["completed"],
            pending=r["pending"],
            failed=r["failed"],
            rejected=r["rejected"],
            predicted={c: r[f"label_{c}"] for c in LABELS},
        )
    for key, (result, review) in _medians(recent).items():
        if key in rows:
            rows[key].median_result_seconds = result
            rows[key].median_review_seconds = review

    backlog = dict(
        _with_current_review(base)
        .filter(status="completed", prediction__priority="high", current_review__isnull=True)
        .annotate(group=_group_key(scope))
        .values("group")
        .annotate(n=Count("pk"))
        .values_list("group", "n")
        .order_by()
    )
    region_ids = {key[0] for key in rows} | set(backlog)
    regions = Region.objects.in_bulk(region_ids)
    summaries = []
    for rid in sorted(region_ids, key=lambda i: regions[i].code):
        region_rows = sorted((r for (g, _), r in rows.items() if g == rid), key=lambda r: r.month)
        summaries.append(
            RegionSummary(
                region=regions[rid],
                rows=region_rows,
                backlog_high_unreviewed=backlog.get(rid, 0),
                drillable=scope.region is None,
            )
        )
    return summaries


def _medians(recent: QuerySet[Screening]) -> dict[tuple[int, datetime.date], tuple]:
    """Median upload-to-result (completed screenings) and upload-to-review (current decision)."""

    def seconds(value) -> float | None:
        return value.total_seconds() if value is not None else None

    if connection.vendor == "postgresql":
        medians = (
            recent.values("group", "month")
            .annotate(
                result=Median(_result_duration(), filter=Q(status="completed")),
                review=Median(_review_duration(), filter=Q(current_review__isnull=False)),
            )
            .order_by()
        )
        return {
            (m["group"], _month(m["month"])): (seconds(m["result"]), seconds(m["review"]))
            for m in medians
        }
    # SQLite (embedded mode, small data): the same medians computed here.
    results: dict = {}
    reviews: dict = {}
    for group, month, status, submitted, completed, reviewed in recent.values_list(
        "group", "month", "status", "submitted_at", "completed_at", "current_review__created_at"
    ):
        key = (group, _month(month))
        if status == "completed" and completed is not None:
            results.setdefault(key, []).append((completed - submitted).total_seconds())
        if reviewed is not None:
            reviews.setdefault(key, []).append((reviewed - submitted).total_seconds())
    keys = set(results) | set(reviews)
    return {k: (stats.median(results.get(k, [])), stats.median(reviews.get(k, []))) for k in keys}
