"""The rollup computed in Python, for the embedded SQLite portal (no ``percentile_cont``, no
``GROUPING SETS``): the same rows as ``rollup_sql.UPSERT``, rebuilt whole (its data is small)."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.db.models import FilteredRelation, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from screening.models import PENDING_STATUSES, Screening

from . import stats
from .models import RegionMonthRollup

JUDGED_NEGATIVE = ("no_finding", "pneumonia_other")


def _flags(status, label, priority, decision) -> dict[str, bool]:
    judged_positive = decision == "covid_suspected" and priority is not None
    judged_negative = decision in JUDGED_NEGATIVE and priority is not None
    high = priority == "high"
    return {
        "submitted": True,
        "completed": status == "completed",
        "pending": status in PENDING_STATUSES,
        "failed": status == "failed",
        "rejected": status == "rejected",
        "predicted_covid": label == "covid",
        "predicted_normal": label == "normal",
        "predicted_pneumonia": label == "pneumonia",
        "band_high": high,
        "band_medium": priority == "medium",
        "band_low": priority == "low",
        "reviewed": decision is not None,
        "high_unreviewed": status == "completed" and high and decision is None,
        "watch_tp": judged_positive and high,
        "watch_fn": judged_positive and not high,
        "watch_fp": judged_negative and high,
        "watch_tn": judged_negative and not high,
    }


def _rows():
    qs = Screening.objects.annotate(
        current_review=FilteredRelation("reviews", condition=Q(reviews__is_current=True)),
        top=Coalesce("region__parent_id", "region_id"),
    ).values_list(
        "region_id",
        "top",
        "submitted_at",
        "completed_at",
        "status",
        "prediction__label",
        "prediction__priority",
        "current_review__decision",
        "current_review__created_at",
    )
    return qs.order_by()


def rollup_rebuild_python(*, now: datetime.datetime) -> None:
    groups: dict[tuple[int, datetime.date, bool], dict] = {}
    for (
        region,
        top,
        submitted,
        completed,
        status,
        label,
        priority,
        decision,
        reviewed_at,
    ) in _rows():
        month = timezone.localtime(submitted).date().replace(day=1)
        flags = _flags(status, label, priority, decision)
        for key in {(region, month, False), (top, month, True)}:
            g = groups.setdefault(
                key, {"counts": dict.fromkeys(flags, 0), "result": [], "review": []}
            )
            for name, flag in flags.items():
                g["counts"][name] += int(flag)
            if status == "completed" and completed is not None:
                g["result"].append((completed - submitted).total_seconds())
            if reviewed_at is not None:
                g["review"].append((reviewed_at - submitted).total_seconds())
    objects = []
    for (region, month, subtree), g in groups.items():
        histograms = {}
        for kind in ("result", "review"):
            h: dict[str, int] = {}
            for seconds in g[kind]:
                b = str(stats.duration_bucket(seconds))
                h[b] = h.get(b, 0) + 1
            histograms[kind] = h
        objects.append(
            RegionMonthRollup(
                region_id=region,
                month=month,
                subtree=subtree,
                **g["counts"],
                median_result_seconds=stats.median(g["result"]),
                median_review_seconds=stats.median(g["review"]),
                result_histogram=histograms["result"],
                review_histogram=histograms["review"],
                refreshed_at=now,
            )
        )
    with transaction.atomic():
        RegionMonthRollup.objects.all().delete()
        RegionMonthRollup.objects.bulk_create(objects, batch_size=500)
